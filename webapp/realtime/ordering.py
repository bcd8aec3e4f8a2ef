"""One channel's stores, deliveries and catch-ups, kept in order in this process.

A frame kept in history is stored by the backend and then handed to the local
members with the id it got. Stores may wait on the network, and several of
one channel can be in flight at once (a backend sends them in batches), but
local members must get them in id order. So each store takes a *ticket* when
it is queued, in the order the backend will store them, and delivers only
when its ticket's turn comes, however the round trips end.

A catch-up (a joiner reading presence and history) holds the channel
*exclusively*: it waits for the stores in flight to be delivered and keeps
new ones from being queued until it is done, so an entry is either in the
catch-up or delivered after it, never both, never neither.

Limitation: the order is this process's own. Entries stored by other
processes reach local members through the backend's bus, and can come after
a later entry stored here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ChannelOrder:
    """Tickets and turns for one channel (a patched threading module makes it green)."""

    __slots__ = ("_gate", "_lock", "_issued", "_served", "_turns", "_drained", "users")

    def __init__(self) -> None:
        # Held to queue a store, and by a catch-up for all its length.
        self._gate = threading.RLock()
        self._lock = threading.Lock()
        self._issued = 0
        self._served = 0
        # Tickets whose holder waits for its turn: ticket -> its wake-up.
        self._turns: dict[int, threading.Event] = {}
        # Set when every ticket issued has been served, for a waiting catch-up.
        self._drained: threading.Event | None = None
        # Tasks using this order now; its owner forgets it at zero.
        self.users = 0

    @contextmanager
    def queueing(self) -> Iterator[int]:
        """Yield a ticket; queue the store inside, before anything else can.

        The ticket must then be given to :meth:`turn` exactly once, whatever
        happens to the store, or the channel's later stores wait forever.
        """
        with self._gate:
            with self._lock:
                ticket = self._issued
                self._issued += 1
            yield ticket

    @contextmanager
    def turn(self, ticket: int) -> Iterator[None]:
        """Wait until every earlier ticket was served; serve this one on exit."""
        with self._lock:
            event = None
            if ticket != self._served:
                event = self._turns[ticket] = threading.Event()
        if event is not None:
            event.wait()
        try:
            yield
        finally:
            with self._lock:
                self._served += 1
                following = self._turns.pop(self._served, None)
                drained = None
                if self._served == self._issued:
                    drained, self._drained = self._drained, None
            if following is not None:
                following.set()
            if drained is not None:
                drained.set()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the channel: stores in flight delivered, none queued meanwhile."""
        with self._gate:
            with self._lock:
                drained = None
                if self._served != self._issued:
                    drained = self._drained = self._drained or threading.Event()
            if drained is not None:
                drained.wait()
            yield
