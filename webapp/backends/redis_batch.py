"""Redis commands of many tasks sent together: one round trip per batch.

Tasks submit commands and go on at once. A *sender* task of the batcher's
own takes everything queued, sends it in one pipeline and hands out the
replies; while one batch is on the wire the next piles up, so under load the
round trips per second stay about the same while the commands per second
grow, and at rest a lone command goes out at once.

A call may carry a follow-up (``then``). Follow-ups run in a second task,
the *completer*, one after another in the order the calls were submitted.
A follow-up may submit commands and wait for those without a follow-up (a
delivery that closes a client, which then leaves its channels, does): the
sender completes them, and the sender never waits on anything. It must not
wait for a call with a follow-up of its own, which only the completer could
run: :meth:`Batcher.wait` refuses that with a RuntimeError instead of hanging.

Scripts are sent as ``EVALSHA``: a batch costs no ``SCRIPT EXISTS`` round
trip, and a script Redis has forgotten (a restart, ``SCRIPT FLUSH``) is
loaded again and its calls sent again.

Limitation: when a batch fails as a whole (the connection drops mid-way, or
a forgotten script cannot be loaded again), every call of it fails, even one
Redis may have run before the failure; and a call sent again after its
script was reloaded is stored after the later calls of its batch, so its id
is higher than theirs while its follow-up still runs before theirs.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)

# Calls queued, on the wire or waiting for their follow-up at most: past it,
# submitters (but the completer) wait until there is room again, so a flood
# slows its sources down instead of growing without end. Each waiting
# submitter adds one call past it.
MAX_QUEUED = 5000


class Call:
    """One queued command: its reply or error once done, and what follows it."""

    __slots__ = (
        "command",
        "script",
        "then",
        "done",
        "finished",
        "reply",
        "error",
        "wake",
    )

    def __init__(
        self,
        command: tuple[Any, ...],
        script: Script | None,
        then: Callable[[Call], None] | None,
    ) -> None:
        self.command = command
        self.script = script
        # Run by the completer once the reply is in, in submission order.
        self.then = then
        # The reply (or error) is in; and the follow-up, if any, has run.
        self.done = False
        self.finished = False
        self.reply: Any = None
        self.error: BaseException | None = None
        # Set when the call is finished, for a waiting task.
        self.wake: threading.Event | None = None

    def outcome(self) -> Any:
        """Return the reply of a done call, or raise its error."""
        if self.error is not None:
            raise self.error
        return self.reply


class Batcher:
    """Queue commands; a task of its own sends them in pipelines, in order.

    Works with green threads (a patched threading module) and with real ones.
    The sender and the completer start with the first command, and again
    if they died (a kill, or a fork that left them behind).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._queue: list[Call] = []
        self._ready = threading.Event()
        # Set when the calls not finished are back under MAX_QUEUED, for
        # submitters waiting for room.
        self._space = threading.Event()
        # Calls of the batch on the wire.
        self._sending = 0
        # Calls whose reply is in, waiting for the completer to run their follow-up.
        self._following: collections.deque[Call] = collections.deque()
        self._finishing = threading.Event()
        self._sender: threading.Thread | None = None
        self._completer: threading.Thread | None = None
        # A patched threading module makes it local to a green thread.
        self._task = threading.local()
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
        """Wait until ``call`` is finished; return its reply or raise its error.

        :raises RuntimeError: when a follow-up waits for an unfinished call
            with a follow-up, which would never finish.
        """
        with self._lock:
            wake = None
            if not call.finished:
                if call.then is not None and self._on_completer():
                    raise RuntimeError("a follow-up waited for a later follow-up")
                wake = call.wake = threading.Event()
        if wake is not None:
            wake.wait()
        return call.outcome()

    def _on_completer(self) -> bool:
        return getattr(self._task, "completer", False)

    def _queued(self, call: Call) -> Call:
        with self._lock:
            self._queue.append(call)
            # The completer makes the room it would wait for: it never waits.
            crowded = self._crowded() and not self._on_completer()
            if crowded:
                self._space.clear()
            self._start_tasks()
        self._ready.set()
        if crowded:
            self._space.wait()
        return call

    def _crowded(self) -> bool:
        return len(self._queue) + self._sending + len(self._following) > MAX_QUEUED

    def _make_room(self) -> None:
        """Let waiting submitters go on if there is room again (lock held)."""
        if not self._crowded():
            self._space.set()

    def _start_tasks(self) -> None:
        """Start the sender and the completer where they are not running."""
        if self._sender is None or not self._sender.is_alive():
            self._sender = _started(self._send_forever, "redis-sender")
        if self._completer is None or not self._completer.is_alive():
            self._completer = _started(self._finish_forever, "redis-completer")

    def _send_forever(self) -> None:
        while True:
            self._ready.wait()
            with self._lock:
                self._ready.clear()
                batch, self._queue = self._queue, []
                self._sending = len(batch)
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
            self._hand_out(batch, [lost] * len(batch))
            raise
        self._hand_out(batch, replies)

    def _hand_out(self, batch: list[Call], replies: list[Any]) -> None:
        """Complete calls without a follow-up; pass the others to the completer."""
        following = []
        for call, reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                call.error = reply
            else:
                call.reply = reply
            if call.then is None:
                self._done(call)
            else:
                following.append(call)
        with self._lock:
            self._following.extend(following)
            self._sending = 0
            self._make_room()
        if following:
            self._finishing.set()

    def _finish_forever(self) -> None:
        self._task.completer = True
        while True:
            # A completer started again after its predecessor was killed
            # finds the calls that one left.
            while self._following:
                # Taken off only once run: a completer killed before would
                # leave it to the next.
                call = self._following[0]
                try:
                    with self._lock:
                        # The follow-up reads the call's outcome.
                        call.done = True
                    call.then(call)
                except Exception:
                    logger.exception("the follow-up of a Redis call failed")
                finally:
                    with self._lock:
                        self._following.popleft()
                        self._make_room()
                    self._done(call)
            # Under green threads the completer runs every follow-up it finds
            # in one turn unless one of them waits; only then can the sender
            # add batches, and MAX_QUEUED bounds what waits here. Letting
            # other tasks in between follow-ups made batches smaller and cost
            # more CPU per message (docs/benchmarks.md).
            self._finishing.wait()
            self._finishing.clear()

    def _done(self, call: Call) -> None:
        with self._lock:
            call.done = call.finished = True
            wake = call.wake
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


def _started(target: Callable[[], None], name: str) -> threading.Thread:
    task = threading.Thread(target=target, name=name, daemon=True)
    task.start()
    return task
