"""Channel membership in this process and fan-out, made cluster-wide by the backend.

A broadcast is built once, stored and sent to the other processes through the
backend in one call, then handed once to each local sink with members in the
channel. Frames from other processes arrive through :meth:`Rooms.receive`.

A join can be *held*: the joiner is a member but its sink is not attached
yet, and what the channel gets meanwhile is kept for it. The dispatcher holds
a join while it reads presence and history, then releases it, so a joiner
gets its catch-up first and every later frame after it, none lost between.

A frame kept in history is queued for storing and handed to local members
once it has its id, in the channel's order (:mod:`webapp.realtime.ordering`):
several stores of one channel can wait on the network at once, members still
get the entries in id order, and a joiner's catch-up (:meth:`Rooms.held_for_catch_up`)
never shares an entry with what reaches it live.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from webapp.backends.base import (
    Backend,
    BackendUnavailableError,
    ClusterMessage,
)
from webapp.realtime.connection import Connection, Membership, Room
from webapp.realtime.history import with_id
from webapp.realtime.ordering import Stored, Stores
from webapp.realtime.presence import presence_update_frame
from webapp.realtime.rules import ChannelRule
from webapp.realtime.sink import Audience, Outgoing

logger = logging.getLogger(__name__)

# A frame kept for a held joiner, with the audience it was sent to.
Held = tuple[Outgoing, Audience]


class Rooms:
    """The local rooms of every workspace, and the broadcasts between them."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._rooms: dict[int, dict[str, Room]] = {}
        # Held joins: (workspace, channel) -> socket id -> frames kept for it.
        self._held: dict[tuple[int, str], dict[str, list[Held]]] = {}
        # Broadcasts on their way to the backend, delivered here once stored.
        self._stores = Stores(backend, self.deliver)

    def held_for_catch_up(
        self, workspace_id: int, channel: str
    ) -> AbstractContextManager[None]:
        """Hold the channel for a catch-up: no store in flight, none begun meanwhile."""
        return self._stores.exclusive(workspace_id, channel)

    def settled(self) -> bool:
        """Tell whether every broadcast stored so far was delivered."""
        return self._stores.settled()

    def get(self, workspace_id: int, channel: str) -> Room | None:
        """Return the local room of a channel, None when it has no local member."""
        rooms = self._rooms.get(workspace_id)
        return rooms.get(channel) if rooms is not None else None

    def of_workspace(self, workspace_id: int) -> list[Room]:
        """Return a workspace's local rooms."""
        return list(self._rooms.get(workspace_id, {}).values())

    def join(
        self,
        connection: Connection,
        channel: str,
        rule: ChannelRule,
        presence: bool,
        hold: bool = False,
    ) -> Room:
        """Make ``connection`` a member of the channel; joining again updates it.

        The other members that joined with presence hear of a new visible member
        before it is attached, so it never hears of itself. With ``hold`` a new
        member is attached only by :meth:`release`.

        Limitation: with several processes, an entry another process stored
        before the joiner read the history can reach it again, live, after
        the release (the bus is slower than the read): the joiner then gets
        that entry twice, and the ids tell them apart.
        """
        ws = connection.workspace_id
        old = connection.memberships.get(channel)
        was_visible = old is not None and old.presence
        self.backend.add_member(
            ws, channel, connection.socket_id, connection.client, presence
        )
        room = self._room(ws, channel, rule)
        if presence and not was_visible:
            self._announce(room, "join", connection.client)

        membership = Membership(connection, room, presence)
        room.add(membership)
        connection.memberships[channel] = membership
        if hold and old is None:
            waiting = self._held.setdefault((ws, channel), {})
            waiting[connection.socket_id] = []
        else:
            connection.sink.attach(connection, room, presence)
        if was_visible and not presence:
            self._announce(room, "leave", connection.client)
        return room

    def release(self, connection: Connection, channel: str) -> list[dict[str, Any]]:
        """Attach a held joiner; return the frames its channel got meanwhile.

        Only frames of the audiences it belongs to are returned, in order.
        """
        held = self._unhold(connection, channel)
        membership = connection.memberships.get(channel)
        if held is None or membership is None:
            return []
        connection.sink.attach(connection, membership.room, membership.presence)
        return [
            outgoing.frame
            for outgoing, audience in held
            if _reaches(membership, audience)
        ]

    def _unhold(self, connection: Connection, channel: str) -> list[Held] | None:
        key = (connection.workspace_id, channel)
        waiting = self._held.get(key)
        if waiting is None:
            return None
        held = waiting.pop(connection.socket_id, None)
        if not waiting:
            del self._held[key]
        return held

    def _hold(
        self, workspace_id: int, channel: str, outgoing: Outgoing, audience: Audience
    ) -> None:
        waiting = self._held.get((workspace_id, channel))
        if waiting:
            for held in waiting.values():
                held.append((outgoing, audience))

    def leave(self, connection: Connection, channel: str) -> bool:
        """Take ``connection`` out of the channel; tell whether it was a member.

        The local leave always happens; a backend that cannot be reached only
        costs a warning, as the client is gone either way.
        """
        membership = connection.memberships.pop(channel, None)
        if membership is None:
            return False
        self._unhold(connection, channel)
        room = membership.room
        room.discard(connection)
        connection.sink.detach(connection, room)
        if not room.members:
            self._drop(room)
        try:
            self.backend.remove_member(room.workspace_id, channel, connection.socket_id)
        except BackendUnavailableError:
            logger.warning(
                "could not remove %s from %s: backend unavailable",
                connection.socket_id,
                channel,
            )
        if membership.presence:
            self._announce(room, "leave", connection.client)
        return True

    def broadcast(
        self,
        workspace_id: int,
        channel: str,
        frame: dict[str, Any],
        audience: Audience,
        history_size: int = 0,
        created_at: int = 0,
        then: Stored | None = None,
    ) -> dict[str, Any] | None:
        """Send ``frame`` to the channel's members everywhere.

        With ``history_size`` the frame is stored first and carries its id.
        Without ``then``, wait for that and return the frame as delivered,
        or raise :class:`BackendUnavailableError`. With it, return at once:
        the frame reaches local members once stored, and ``then`` is called
        exactly once after that, with None, or with the error if the frame
        could not be stored or published (from whichever task learns of it).
        """
        message = ClusterMessage(
            "broadcast",
            workspace_id,
            channel,
            frame,
            int(audience),
            created_at=created_at,
        )
        if history_size <= 0:
            # Without ids there is no order to keep, and no store to wait for.
            if then is not None:
                self._publish(message, frame, audience, then)
                return None
            self.backend.publish(message)
            self.deliver(workspace_id, channel, Outgoing(frame), audience)
            return frame
        if then is not None:
            self._stores.store(message, history_size, then)
            return None
        # Waits until the frame was stored and handed to local members.
        self._stores.store_and_wait(message, history_size)
        return with_id(frame, message.id)

    def _publish(
        self,
        message: ClusterMessage,
        frame: dict[str, Any],
        audience: Audience,
        then: Stored,
    ) -> None:
        """Publish a broadcast without history, deliver it here, then call ``then``.

        ``then`` runs exactly once: with the error if the broadcast left for
        nobody, else with None, even if a local delivery failed.
        """
        # Until the publish succeeds, the broadcast counts as not sent.
        error: BackendUnavailableError | None = BackendUnavailableError(
            "the broadcast was not published"
        )
        channel = message.channel
        try:
            try:
                self.backend.publish(message)
            except BackendUnavailableError as exc:
                error = exc
                return
            except Exception:
                logger.exception("could not publish a broadcast on %s", channel)
                return
            error = None
            try:
                self.deliver(message.workspace_id, channel, Outgoing(frame), audience)
            except Exception:
                logger.exception("could not deliver a broadcast on %s", channel)
        finally:
            then(error)

    def deliver(
        self, workspace_id: int, channel: str, outgoing: Outgoing, audience: Audience
    ) -> None:
        """Hand a frame to every local sink with members in the channel."""
        room = self.get(workspace_id, channel)
        if room is None:
            return
        self._hold(workspace_id, channel, outgoing, audience)
        # A sink may close a connection while delivering, changing room.sinks.
        for sink in tuple(room.sinks):
            sink.deliver(room, outgoing, audience)

    def member_client(self, room: Room, socket_id: str) -> dict[str, Any] | None:
        """Return the client object of a member of the room's channel, anywhere."""
        membership = room.members.get(socket_id)
        if membership is not None:
            return membership.connection.client
        return self.backend.member(room.workspace_id, room.channel, socket_id)

    def send_direct(self, room: Room, socket_id: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to one member of the room's channel, wherever it is."""
        membership = room.members.get(socket_id)
        if membership is not None:
            connection = membership.connection
            connection.sink.send(connection, Outgoing(frame))
            return
        message = ClusterMessage(
            "direct", room.workspace_id, room.channel, frame, target=socket_id
        )
        self.backend.publish(message)

    def receive(self, message: ClusterMessage) -> None:
        """Deliver a broadcast or direct message from another process locally."""
        if message.frame is None:
            return
        if message.kind == "broadcast":
            frame = with_id(message.frame, message.id)
            outgoing = Outgoing(frame)
            self.deliver(
                message.workspace_id,
                message.channel,
                outgoing,
                Audience(message.audience),
            )
        elif message.kind == "direct":
            room = self.get(message.workspace_id, message.channel)
            membership = room.members.get(message.target) if room else None
            if membership is not None:
                connection = membership.connection
                connection.sink.send(connection, Outgoing(message.frame))

    def _room(self, workspace_id: int, channel: str, rule: ChannelRule) -> Room:
        rooms = self._rooms.setdefault(workspace_id, {})
        room = rooms.get(channel)
        if room is None:
            room = rooms[channel] = Room(workspace_id, channel, rule)
        else:
            room.rule = rule
        return room

    def _drop(self, room: Room) -> None:
        rooms = self._rooms.get(room.workspace_id)
        if rooms is not None and rooms.get(room.channel) is room:
            del rooms[room.channel]
            if not rooms:
                del self._rooms[room.workspace_id]

    def _announce(self, room: Room, action: str, client: dict[str, Any]) -> None:
        frame = presence_update_frame(room.channel, action, client)
        message = ClusterMessage(
            "broadcast", room.workspace_id, room.channel, frame, int(Audience.PRESENCE)
        )
        try:
            self.backend.publish(message)
        except BackendUnavailableError:
            # Presence news must still reach the local members.
            logger.warning(
                "presence %s on %s not shared: backend unavailable",
                action,
                room.channel,
            )
        outgoing = Outgoing(frame)
        self._hold(room.workspace_id, room.channel, outgoing, Audience.PRESENCE)
        # The room may have just been dropped (last member left): use it directly.
        if room.sinks:
            for sink in tuple(room.sinks):
                sink.deliver(room, outgoing, Audience.PRESENCE)


def _reaches(membership: Membership, audience: Audience) -> bool:
    """Tell whether a broadcast to ``audience`` reaches the member."""
    if audience == Audience.AUTHENTICATED:
        return membership.connection.authenticated
    if audience == Audience.PRESENCE:
        return membership.presence
    return True
