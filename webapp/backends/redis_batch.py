"""Redis commands of many tasks sent together: one round trip per batch.

Tasks submit commands and go on at once; a sender task of the batcher's own
takes everything queued, sends it in one pipeline, and completes each call
in the order submitted: it runs the call's ``then`` (if any), then wakes a
task that waits for it. While one batch is on the wire the next piles up, so
under load the round trips per second stay about the same while the commands
per second grow, and at rest a lone command goes out at once.

Scripts are sent as ``EVALSHA``: a batch costs no ``SCRIPT EXISTS`` round
trip, and a script Redis has forgotten (a restart, ``SCRIPT FLUSH``) is
loaded again and its calls sent again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)

# Commands queued at most: past it, submitters wait for their own reply, so a
# flood slows its sources down instead of growing the queue without bound.
MAX_QUEUED = 5000


class Call:
    """One queued command: its reply or error once done, and what follows it."""

    __slots__ = ("command", "script", "then", "done", "reply", "error", "wake")

    def __init__(
        self,
        command: tuple[Any, ...],
        script: Script | None,
        then: Callable[[Call], None] | None,
    ) -> None:
        self.command = command
        self.script = script
        # Run by the sender when the call is done, in submission order.
        self.then = then
        self.done = False
        self.reply: Any = None
        self.error: BaseException | None = None
        # Set when the call is done, for a task waiting on it.
        self.wake: threading.Event | None = None

    def outcome(self) -> Any:
        """Return the reply of a done call, or raise its error."""
        if self.error is not None:
            raise self.error
        return self.reply


class Batcher:
    """Queue commands; a task of its own sends them in pipelines, in order.

    Works with green threads (a patched threading module) and with real ones.
    The sender starts with the first command.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._queue: list[Call] = []
        self._ready = threading.Event()
        self._sender: threading.Thread | None = None
        # Batches and commands sent, for tests and benchmarks.
        self.batches = 0
        self.commands = 0

    def submit(self, *command: Any, then: Callable[[Call], None] | None = None) -> Call:
        """Queue a command, for example ``("PUBLISH", channel, data)``."""
        return self._queued(Call(command, None, then))

    def submit_script(
        self,
        script: Script,
        keys: Sequence[Any],
        args: Sequence[Any],
        then: Callable[[Call], None] | None = None,
    ) -> Call:
        """Queue a run of a registered script."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return self._queued(Call(command, script, then))

    def wait(self, call: Call) -> Any:
        """Wait until ``call`` is done; return its reply or raise its error."""
        with self._lock:
            wake = None
            if not call.done:
                wake = call.wake = threading.Event()
        if wake is not None:
            wake.wait()
        return call.outcome()

    def _queued(self, call: Call) -> Call:
        with self._lock:
            self._queue.append(call)
            crowded = len(self._queue) > MAX_QUEUED
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_forever, name="redis-batcher", daemon=True
                )
                self._sender.start()
        self._ready.set()
        if crowded:
            self.wait(call)
        return call

    def _send_forever(self) -> None:
        while True:
            self._ready.wait()
            with self._lock:
                self._ready.clear()
                batch, self._queue = self._queue, []
            if batch:
                self._send(batch)

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
            # The sender was interrupted (a kill): the waiters hear of it.
            lost = redis.ConnectionError("the batch was interrupted")
            self._complete(batch, [lost] * len(batch))
            raise
        self._complete(batch, replies)

    def _complete(self, batch: list[Call], replies: list[Any]) -> None:
        for call, reply in zip(batch, replies, strict=True):
            with self._lock:
                if isinstance(reply, BaseException):
                    call.error = reply
                else:
                    call.reply = reply
                call.done = True
                wake = call.wake
            if call.then is not None:
                try:
                    call.then(call)
                except Exception:
                    logger.exception("a Redis reply's follow-up failed")
            if wake is not None:
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
