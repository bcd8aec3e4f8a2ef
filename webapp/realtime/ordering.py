"""One channel's stores and catch-ups kept apart; a client's frames kept in turn.

A frame kept in history is queued for storing and handed to local members
once the backend has stored it; the backend completes a process's stores in
the order queued, so members get a channel's entries in id order even when
several are on their way at once.

A catch-up (a joiner reading presence and history) holds the channel
*exclusively*: it waits until the stores on their way have been delivered
and keeps new ones from being queued until it is done, so an entry is either
in the catch-up or delivered after it, never both, never neither.

A client's messages are answered before they are stored: it can send the
next one meanwhile. Any other frame of its own waits for them first
(:func:`wait_for_own_stores`), so that, as without the wait, it sees its own
messages before the answer to a later frame (its history among them).

Limitation: the order is this process's own. Entries stored by other
processes reach local members through the backend's bus, and can come after
a later entry stored here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webapp.realtime.connection import Connection

# Guards every connection's count of messages being stored (rarely contended).
_own_stores = threading.Lock()


class ChannelOrder:
    """Stores on their way and catch-ups of one channel.

    A patched threading module makes its locks green.
    """

    __slots__ = ("_gate", "_lock", "_on_their_way", "_drained", "users")

    def __init__(self) -> None:
        # Held to queue a store, and by a catch-up for all its length.
        self._gate = threading.RLock()
        self._lock = threading.Lock()
        self._on_their_way = 0
        # Set when no store is on its way any more, for a waiting catch-up.
        self._drained: threading.Event | None = None
        # Tasks and stores using this order now; its owner forgets it at zero.
        self.users = 0

    @contextmanager
    def queueing(self) -> Iterator[None]:
        """Queue one store inside; :meth:`landed` must follow it exactly once."""
        with self._gate:
            with self._lock:
                self._on_their_way += 1
            yield

    def landed(self) -> None:
        """Count a queued store as delivered (or failed)."""
        with self._lock:
            self._on_their_way -= 1
            drained = None
            if self._on_their_way == 0:
                drained, self._drained = self._drained, None
        if drained is not None:
            drained.set()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the channel: stores on their way delivered, none queued meanwhile."""
        with self._gate:
            with self._lock:
                drained = None
                if self._on_their_way:
                    drained = self._drained = self._drained or threading.Event()
            if drained is not None:
                drained.wait()
            yield


def count_own_store(connection: Connection) -> None:
    """Count one more of the client's messages as being stored."""
    with _own_stores:
        connection.storing += 1


def own_store_landed(connection: Connection) -> None:
    """Count one of the client's messages as delivered (or failed)."""
    with _own_stores:
        connection.storing -= 1
        wake = None
        if connection.storing == 0:
            wake, connection.stored = connection.stored, None
    if wake is not None:
        wake.set()


def wait_for_own_stores(connection: Connection) -> None:
    """Wait until every message the client sent so far was delivered."""
    with _own_stores:
        if not connection.storing:
            return
        wake = connection.stored = connection.stored or threading.Event()
    wake.wait()
