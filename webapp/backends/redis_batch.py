"""Redis commands of many tasks sent together: one round trip per batch.

A task submits a command and gets a :class:`Call` back at once; commands are
queued in the order submitted. When a task waits for its call and no batch is
on the wire, it sends everything queued so far in one pipeline and hands each
call its reply. Tasks that wait meanwhile sleep until their reply is in, or
until the batch before theirs is back and one of them is to send the next.
So while one round trip is under way the commands of every other task pile
up and leave together: under load, the round trips per second stay about the
same while the commands per second grow, and at rest a lone command goes out
at once.

Scripts are sent as ``EVALSHA``: a batch costs no ``SCRIPT EXISTS`` round
trip, and a script Redis has forgotten (a restart, ``SCRIPT FLUSH``) is
loaded again and its calls sent again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError


class Call:
    """One command in a batch; :meth:`wait` returns its reply or raises its error."""

    __slots__ = ("_batcher", "command", "script", "done", "reply", "error", "wake")

    def __init__(
        self, batcher: Batcher, command: tuple[Any, ...], script: Script | None
    ) -> None:
        self._batcher = batcher
        self.command = command
        self.script = script
        self.done = False
        self.reply: Any = None
        self.error: BaseException | None = None
        # Set when the reply is in, or when this call's task is to send a batch.
        self.wake: threading.Event | None = None

    def wait(self) -> Any:
        """Wait for the reply (sending a batch when it is this task's turn)."""
        self._batcher.wait(self)
        if self.error is not None:
            raise self.error
        return self.reply


class Batcher:
    """Queue commands and send them in pipelines, one batch on the wire at a time.

    Works with green threads (a patched threading module) and with real ones.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._queue: list[Call] = []
        self._sending = False
        # Batches and commands sent, for tests and benchmarks.
        self.batches = 0
        self.commands = 0

    def submit(self, *command: Any) -> Call:
        """Queue a command, for example ``("PUBLISH", channel, data)``."""
        return self._queued(Call(self, command, None))

    def submit_script(
        self, script: Script, keys: Sequence[Any], args: Sequence[Any]
    ) -> Call:
        """Queue a run of a registered script."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return self._queued(Call(self, command, script))

    def _queued(self, call: Call) -> Call:
        with self._lock:
            self._queue.append(call)
        return call

    def wait(self, call: Call) -> None:
        """Return once ``call`` is done; send a batch whenever none is on the wire."""
        while True:
            with self._lock:
                if call.done:
                    return
                if self._sending:
                    wake = call.wake = threading.Event()
                    batch = None
                else:
                    self._sending = True
                    batch, self._queue = self._queue, []
            if batch is None:
                wake.wait()
                continue
            try:
                self._send(batch)
            finally:
                self._hand_over()

    def _send(self, batch: list[Call]) -> None:
        self.batches += 1
        self.commands += len(batch)
        try:
            replies = self._execute(batch)
            forgotten = [
                index
                for index, reply in enumerate(replies)
                if isinstance(reply, NoScriptError)
            ]
            if forgotten:
                for script in {batch[index].script for index in forgotten}:
                    self._client.script_load(script.script)
                again = self._execute([batch[index] for index in forgotten])
                for index, reply in zip(forgotten, again, strict=True):
                    replies[index] = reply
        except Exception as exc:
            replies = [exc] * len(batch)
        except BaseException:
            # The sending task was interrupted (a timeout, a kill): the other
            # waiters get a connection error, the sender its interruption.
            lost = redis.ConnectionError("the batch was interrupted")
            self._complete(batch, [lost] * len(batch))
            raise
        self._complete(batch, replies)

    def _complete(self, batch: list[Call], replies: list[Any]) -> None:
        wakes = []
        with self._lock:
            for call, reply in zip(batch, replies, strict=True):
                if isinstance(reply, BaseException):
                    call.error = reply
                else:
                    call.reply = reply
                call.done = True
                if call.wake is not None:
                    wakes.append(call.wake)
        for wake in wakes:
            wake.set()

    def _execute(self, batch: list[Call]) -> list[Any]:
        if len(batch) == 1:
            # A lone command costs less without a pipeline around it.
            try:
                return [self._client.execute_command(*batch[0].command)]
            except redis.ResponseError as exc:
                return [exc]
        pipe = self._client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*call.command)
        return pipe.execute(raise_on_error=False)

    def _hand_over(self) -> None:
        """Let the first task waiting on a queued call send the next batch."""
        with self._lock:
            self._sending = False
            following = next(
                (call.wake for call in self._queue if call.wake is not None), None
            )
        if following is not None:
            following.set()
