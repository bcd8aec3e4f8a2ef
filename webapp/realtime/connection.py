"""The engine's state for one connected client and for one channel's local members."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webapp.realtime.limits import TokenBucket
from webapp.realtime.rules import ChannelRule
from webapp.realtime.sink import Audience, Sink


@dataclass(eq=False, slots=True)
class Connection:
    """One client, whatever the transport.

    ``handle`` is the transport's own reference (a Socket.IO sid, a socket);
    the engine never looks inside it.
    """

    socket_id: str
    workspace_id: int
    connection_hash: str
    client: dict[str, Any]
    sink: Sink
    handle: Any
    bucket: TokenBucket
    last_frame_at: float
    memberships: dict[str, Membership] = field(default_factory=dict)
    closed: bool = False
    # Its messages still being stored, and what a frame waiting for them waits on.
    stores_pending: int = 0
    stores_drained: Any = None

    @property
    def authenticated(self) -> bool:
        """Tell whether the client connected with a valid auth token."""
        return self.client["authenticated"]

    @property
    def end_user_id(self) -> int:
        """Return the end user's id, 0 for an anonymous client."""
        return self.client["permissions"]["row_id"]


@dataclass(eq=False, slots=True)
class Membership:
    """A connection's place in a room: did it join with presence."""

    connection: Connection
    room: Room
    presence: bool


@dataclass(eq=False, slots=True)
class Room:
    """A channel's members in this process, and the rule that applies to it.

    ``names`` holds one stable name per :class:`Audience`, for transports that
    keep rooms of their own (Socket.IO rooms).
    """

    workspace_id: int
    channel: str
    rule: ChannelRule
    members: dict[str, Membership] = field(default_factory=dict)
    sinks: dict[Sink, int] = field(default_factory=dict)
    names: tuple[str, str, str] = ("", "", "")

    def __post_init__(self) -> None:
        base = f"{self.workspace_id}|{self.channel}"
        self.names = (base, base + "|a", base + "|p")

    def name(self, audience: Audience) -> str:
        """Return the room's name for ``audience``."""
        return self.names[audience]

    def add(self, membership: Membership) -> bool:
        """Add a member; tell whether it is new."""
        socket_id = membership.connection.socket_id
        if socket_id in self.members:
            self.members[socket_id] = membership
            return False
        self.members[socket_id] = membership
        sink = membership.connection.sink
        self.sinks[sink] = self.sinks.get(sink, 0) + 1
        return True

    def discard(self, connection: Connection) -> bool:
        """Remove a member; tell whether it was one."""
        if self.members.pop(connection.socket_id, None) is None:
            return False
        sink = connection.sink
        left = self.sinks.get(sink, 0) - 1
        if left > 0:
            self.sinks[sink] = left
        else:
            self.sinks.pop(sink, None)
        return True


class Connections:
    """This process's connections, by socket id and by workspace."""

    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}
        self._by_workspace: dict[int, dict[str, Connection]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, socket_id: str) -> Connection | None:
        """Return the connection with that socket id, if it is in this process."""
        return self._by_id.get(socket_id)

    def all(self) -> list[Connection]:
        """Return every connection (a copy, safe to close them while iterating)."""
        return list(self._by_id.values())

    def of_workspace(self, workspace_id: int) -> list[Connection]:
        """Return a workspace's connections (a copy)."""
        return list(self._by_workspace.get(workspace_id, {}).values())

    def add(self, connection: Connection) -> None:
        """Register a new connection."""
        self._by_id[connection.socket_id] = connection
        local = self._by_workspace.setdefault(connection.workspace_id, {})
        local[connection.socket_id] = connection

    def remove(self, connection: Connection) -> bool:
        """Unregister a connection; tell whether it was its workspace's last."""
        self._by_id.pop(connection.socket_id, None)
        local = self._by_workspace.get(connection.workspace_id)
        if local is None:
            return False
        local.pop(connection.socket_id, None)
        if local:
            return False
        del self._by_workspace[connection.workspace_id]
        return True
