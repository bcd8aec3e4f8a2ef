"""In-memory stand-ins for the engine's surroundings, for tests and tools.

:class:`RecordingSink` is a transport that records what each connection would
receive; :class:`SnapshotStore` serves workspace snapshots without a database;
:class:`ManualClock` is a clock that moves only when told; :class:`Harness`
puts them together around one workspace.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

from webapp.backends.base import Backend
from webapp.backends.memory import MemoryBackend
from webapp.realtime.connection import Connection, Room
from webapp.realtime.engine import Engine
from webapp.realtime.rules import ChannelRule, Limits, WorkspaceSnapshot
from webapp.realtime.sink import Audience, Outgoing
from webapp.tokens import InvalidTokenError, TokenClaims, issue_token, verify_token

SECRET_KEY = "testing-secret-key"
# Generous bound on waiting for stores to land; never a speed check.
SETTLE_SECONDS = 10


class RecordingSink:
    """A sink keeping, per socket id, the frames sent and the close code."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.close_codes: dict[str, int] = {}
        self._rooms: dict[str, dict[str, tuple[Connection, bool]]] = defaultdict(dict)
        self.deliveries = 0

    def attach(self, connection: Connection, room: Room, presence: bool) -> None:
        self._rooms[room.names[0]][connection.socket_id] = (connection, presence)

    def detach(self, connection: Connection, room: Room) -> None:
        self._rooms[room.names[0]].pop(connection.socket_id, None)

    def deliver(self, room: Room, outgoing: Outgoing, audience: Audience) -> None:
        self.deliveries += 1
        for connection, presence in list(self._rooms[room.names[0]].values()):
            if audience == Audience.AUTHENTICATED and not connection.authenticated:
                continue
            if audience == Audience.PRESENCE and not presence:
                continue
            self._record(connection, outgoing)

    def send(self, connection: Connection, outgoing: Outgoing) -> None:
        self._record(connection, outgoing)

    def close(
        self, connection: Connection, code: int, outgoing: Outgoing | None
    ) -> None:
        if outgoing is not None:
            self._record(connection, outgoing)
        self.close_codes[connection.socket_id] = code

    def _record(self, connection: Connection, outgoing: Outgoing) -> None:
        # Through JSON, as a client would see it (and to prove it encodes).
        self.frames[connection.socket_id].append(json.loads(outgoing.text))

    def take(self, connection: Connection) -> list[dict[str, Any]]:
        """Return and forget the frames recorded for a connection."""
        return self.frames.pop(connection.socket_id, [])

    def members(self, room: Room) -> set[str]:
        """Return the socket ids this sink has in a room."""
        return set(self._rooms[room.names[0]])


class SnapshotStore:
    """Workspace snapshots standing in for the database."""

    def __init__(self, *snapshots: WorkspaceSnapshot) -> None:
        self.snapshots = {snapshot.id: snapshot for snapshot in snapshots}
        self.loads = 0

    def put(self, snapshot: WorkspaceSnapshot) -> None:
        self.snapshots[snapshot.id] = snapshot

    def delete(self, workspace_id: int) -> None:
        self.snapshots.pop(workspace_id, None)

    def by_hash(self, connection_hash: str) -> WorkspaceSnapshot | None:
        self.loads += 1
        for snapshot in self.snapshots.values():
            if snapshot.connection_hash == connection_hash:
                return snapshot
        return None

    def by_id(self, workspace_id: int) -> WorkspaceSnapshot | None:
        self.loads += 1
        return self.snapshots.get(workspace_id)


class ManualClock:
    """A clock standing still until :meth:`advance` moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_token(workspace_id: int, end_user_id: int, name: str, ttl: int = 3600) -> str:
    """Return an auth token the engines of :func:`build_engine` accept."""
    return issue_token(SECRET_KEY, workspace_id, end_user_id, name, ttl)


def _verify(token: str, workspace_id: int) -> TokenClaims | None:
    try:
        return verify_token(SECRET_KEY, token, workspace_id)
    except InvalidTokenError:
        return None


def build_engine(
    store: SnapshotStore,
    backend: Backend | None = None,
    clock: ManualClock | None = None,
) -> Engine:
    """Return an engine over ``store`` (memory backend unless given)."""
    clock = clock or ManualClock()
    return Engine(
        backend or MemoryBackend(),
        store.by_hash,
        store.by_id,
        _verify,
        clock=clock,
        wall_clock=lambda: clock.now + 1_700_000_000,
    )


class Harness:
    """One workspace, an engine over it and a recording sink, for core tests."""

    def __init__(
        self,
        *rules: ChannelRule,
        limits: Limits | None = None,
        backend: Backend | None = None,
        workspace_id: int = 1,
        store: SnapshotStore | None = None,
    ) -> None:
        self.clock = ManualClock()
        self.snapshot = WorkspaceSnapshot(
            workspace_id, True, f"hash-{workspace_id}", limits or Limits(), rules
        )
        # A shared store stands for one database behind several processes.
        self.store = store or SnapshotStore()
        self.store.put(self.snapshot)
        self.backend = backend or MemoryBackend()
        self.engine = build_engine(self.store, self.backend, self.clock)
        self.sink = RecordingSink()

    def connect(
        self,
        end_user: tuple[int, str] | None = None,
        connection_hash: str | None = None,
        token: str | None = None,
    ) -> Connection:
        """Connect a client, authenticated as ``end_user`` (id, name) if given."""
        if end_user is not None:
            token = make_token(self.snapshot.id, *end_user)
        return self.engine.connect(
            connection_hash or self.snapshot.connection_hash, token, self.sink, None
        )

    def send(
        self,
        connection: Connection,
        action: str,
        channel: str | None = None,
        payload: Any = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Send a frame as the client; return the replies as the client sees them."""
        if channel is not None:
            options["channel"] = channel
        frame = {"action": action, "options": options, "payload": payload}
        replies = self.engine.receive(connection, frame)
        self.settle()
        return [json.loads(outgoing.text) for outgoing in replies]

    def settle(self) -> None:
        """Wait until what was stored has been delivered (Redis stores later)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not self.engine.rooms.settled():
            if time.monotonic() > deadline:
                raise AssertionError("stores never landed")
            time.sleep(0.001)

    def join(self, connection: Connection, channel: str, **payload: Any) -> list:
        """Join ``channel`` with the given join payload; return the replies."""
        return self.send(connection, "join", channel, payload)

    def received(self, connection: Connection) -> list[dict[str, Any]]:
        """Return and forget what the sink delivered to a connection."""
        return self.sink.take(connection)

    def change(self, **fields: Any) -> None:
        """Change the workspace's settings and tell the engine."""
        self.snapshot = replace(self.snapshot, **fields)
        self.store.put(self.snapshot)
        self.engine.workspace_changed(self.snapshot.id)
