"""Broadcasts stored in the background, delivered in order; catch-ups kept apart.

A frame kept in history is queued for storing (:class:`Stores`) and handed
to local members once the backend has stored it; the backend completes a
process's stores in the order queued, so members get a channel's entries in
id order even when several are on their way at once.

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

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from webapp.backends.base import (
    Backend,
    BackendUnavailableError,
    ClusterMessage,
    Done,
    Pending,
)
from webapp.realtime.history import with_id
from webapp.realtime.sink import Audience, Outgoing

if TYPE_CHECKING:
    from webapp.realtime.connection import Connection

logger = logging.getLogger(__name__)

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
        connection.stores_pending += 1


def own_store_landed(connection: Connection) -> None:
    """Count one of the client's messages as delivered (or failed)."""
    with _own_stores:
        connection.stores_pending -= 1
        wake = None
        if connection.stores_pending == 0:
            wake, connection.stores_drained = connection.stores_drained, None
    if wake is not None:
        wake.set()


def wait_for_own_stores(connection: Connection) -> None:
    """Wait until every message the client sent so far was delivered."""
    with _own_stores:
        if not connection.stores_pending:
            return
        wake = connection.stores_drained or threading.Event()
        connection.stores_drained = wake
    wake.wait()


# Told that a broadcast was stored and delivered (None), or why it was not.
Stored = Callable[[BackendUnavailableError | None], None]
# Hands a frame to a channel's local members.
Deliver = Callable[[int, str, Outgoing, Audience], None]


class Stores:
    """The broadcasts this process is storing: each delivered once stored, in order."""

    def __init__(self, backend: Backend, deliver: Deliver) -> None:
        self.backend = backend
        self._deliver = deliver
        # Channel orders in use: (workspace, channel) -> order.
        self._orders: dict[tuple[int, str], ChannelOrder] = {}
        # A patched threading module makes it a green lock.
        self._lock = threading.Lock()
        # Broadcasts queued for storing and not delivered yet.
        self._on_their_way = 0

    def settled(self) -> bool:
        """Tell whether every broadcast stored so far was delivered."""
        return self._on_their_way == 0

    @contextmanager
    def exclusive(self, workspace_id: int, channel: str) -> Iterator[None]:
        """Hold the channel for a catch-up (see :meth:`ChannelOrder.exclusive`)."""
        key = (workspace_id, channel)
        order = self._take(key)
        try:
            with order.exclusive():
                yield
        finally:
            self._give_back(key, order)

    def store_and_wait(self, message: ClusterMessage, history_size: int) -> None:
        """Store a broadcast and wait until it was handed to local members.

        :raises BackendUnavailableError: when it could not be stored.
        """
        landed = threading.Event()
        errors: list[BackendUnavailableError] = []

        def done(error: BackendUnavailableError | None) -> None:
            if error is not None:
                errors.append(error)
            landed.set()

        self.store(message, history_size, done)
        landed.wait()
        if errors:
            raise errors[0]

    def store(self, message: ClusterMessage, history_size: int, then: Stored) -> None:
        """Queue a broadcast's store; deliver it locally once stored, in order.

        ``then`` is called exactly once, whatever happens.
        """
        ws, channel = message.workspace_id, message.channel
        key = (ws, channel)
        # Whether the order counts this store, and whether it has landed.
        counted = finished = False

        def landed(stored: Pending) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            error = None
            try:
                delivered = with_id(message.frame, stored.wait())
            except BackendUnavailableError as exc:
                error = exc
            except Exception:
                logger.exception("could not store a broadcast on %s", channel)
                error = BackendUnavailableError("the broadcast was not stored")
            else:
                try:
                    outgoing = Outgoing(delivered)
                    self._deliver(ws, channel, outgoing, Audience(message.audience))
                except Exception:
                    logger.exception("could not deliver a broadcast on %s", channel)
            try:
                then(error)
            finally:
                if counted:
                    order.landed()
                self._give_back(key, order, stored=1)

        order = self._take(key, storing=1)
        try:
            with order.queueing():
                counted = True
                self.backend.store(message, history_size, landed)
        except BaseException as exc:
            # Not queued after all, or interrupted: it lands once, as failed.
            if not finished:
                landed(Done(None, BackendUnavailableError(f"not stored: {exc!r}")))
            if not isinstance(exc, Exception):
                raise
            logger.exception("could not queue a broadcast on %s", channel)

    def _take(self, key: tuple[int, str], storing: int = 0) -> ChannelOrder:
        """Return the channel's order, kept until given back as often as taken."""
        with self._lock:
            order = self._orders.get(key)
            if order is None:
                order = self._orders[key] = ChannelOrder()
            order.users += 1
            self._on_their_way += storing
        return order

    def _give_back(
        self, key: tuple[int, str], order: ChannelOrder, stored: int = 0
    ) -> None:
        with self._lock:
            order.users -= 1
            if order.users == 0:
                del self._orders[key]
            self._on_their_way -= stored
