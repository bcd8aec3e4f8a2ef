"""The in-process backend: the embedded default, for one process only."""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from webapp.backends.base import (
    ClusterMessage,
    Departure,
    Done,
    Liveness,
    MessageHandler,
    Pending,
    Sleep,
    Spawn,
)
from webapp.backends.bus import encode_json

_ChannelKey = tuple[int, str]


def stored_entry(frame: dict[str, Any], id: int, created_at: int) -> dict[str, Any]:
    """Return the history entry of ``frame``: its id in options, id, created_at."""
    return {
        **frame,
        "options": {**frame["options"], "id": id},
        "id": id,
        "created_at": created_at,
    }


def _kept(entry: dict[str, Any]) -> tuple[int, str]:
    """Return how an entry is kept: its id and its JSON text.

    Text, not the frame's objects: the garbage collector does not look into
    strings, and a full collection that walked every entry of every channel's
    history would stop the process for longer as history grows.
    """
    return entry["id"], encode_json(entry)


class MemoryBackend:
    """Keep history, members and connection counts in this process's memory.

    Limitation: nothing is shared with other processes and everything is lost
    when the process stops. Clients of two processes never see each other, and
    connection limits count per process; run a single server process with this
    backend, or set ``REDIS_URL``.
    """

    def __init__(self) -> None:
        self.process_id = uuid.uuid4().hex
        self._history: dict[_ChannelKey, deque[tuple[int, str]]] = {}
        self._last_ids: dict[_ChannelKey, int] = {}
        self._members: dict[_ChannelKey, dict[str, tuple[dict[str, Any], bool]]] = {}
        self._connections: dict[int, int] = {}

    def describe(self) -> str:
        return "memory (in-process)"

    def check(self) -> None:
        return None

    def start(self, spawn: Spawn, sleep: Sleep, on_message: MessageHandler) -> None:
        # There is no other process to listen to.
        return None

    def stop(self) -> None:
        return None

    def listening(self) -> bool | None:
        return None

    def beat(self) -> Liveness:
        return "alive"

    def reap(self) -> list[Departure]:
        return []

    def publish(self, message: ClusterMessage) -> None:
        return None

    def store(
        self,
        message: ClusterMessage,
        history_size: int,
        then: Callable[[Pending], None] | None = None,
    ) -> Done:
        if message.frame is not None:
            message.id = self.append_history(
                message.workspace_id,
                message.channel,
                message.frame,
                message.created_at,
                history_size,
            )
        stored = Done(message.id)
        if then is not None:
            then(stored)
        return stored

    def append_history(
        self,
        workspace_id: int,
        channel: str,
        frame: dict[str, Any],
        created_at: int,
        size: int,
    ) -> int:
        key = (workspace_id, channel)
        entries = self._history.get(key)
        if entries is None or entries.maxlen != size:
            entries = deque(entries or (), maxlen=size)
            self._history[key] = entries
        id = self._last_ids.get(key, 0) + 1
        self._last_ids[key] = id
        entries.append(_kept(stored_entry(frame, id, created_at)))
        return id

    def history(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        kept = self._history.get((workspace_id, channel), ())
        return [json.loads(text) for _, text in kept]

    def history_since(
        self, workspace_id: int, channel: str, since: int
    ) -> list[dict[str, Any]] | None:
        kept = list(self._history.get((workspace_id, channel), ()))
        for index, (id, _) in enumerate(kept):
            if id == since:
                return [json.loads(text) for _, text in kept[index + 1 :]]
        return None

    def add_member(
        self,
        workspace_id: int,
        channel: str,
        socket_id: str,
        client: dict[str, Any],
        presence: bool,
    ) -> None:
        members = self._members.setdefault((workspace_id, channel), {})
        # A re-join counts as a new join: it moves to the end of the order.
        members.pop(socket_id, None)
        members[socket_id] = (client, presence)

    def remove_member(self, workspace_id: int, channel: str, socket_id: str) -> None:
        key = (workspace_id, channel)
        members = self._members.get(key)
        if members is None:
            return
        members.pop(socket_id, None)
        if not members:
            del self._members[key]

    def member(
        self, workspace_id: int, channel: str, socket_id: str
    ) -> dict[str, Any] | None:
        found = self._members.get((workspace_id, channel), {}).get(socket_id)
        return found[0] if found else None

    def presence(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        members = self._members.get((workspace_id, channel), {})
        return [client for client, visible in members.values() if visible]

    def channel_counts(self, workspace_id: int) -> dict[str, int]:
        return {
            channel: len(members)
            for (ws, channel), members in list(self._members.items())
            if ws == workspace_id
        }

    def add_connection(self, workspace_id: int, limit: int) -> bool:
        count = self._connections.get(workspace_id, 0)
        if count >= limit:
            return False
        self._connections[workspace_id] = count + 1
        return True

    def remove_connection(self, workspace_id: int) -> None:
        count = self._connections.get(workspace_id, 0) - 1
        if count > 0:
            self._connections[workspace_id] = count
        else:
            self._connections.pop(workspace_id, None)

    def set_connections(self, workspace_id: int, count: int) -> None:
        if count > 0:
            self._connections[workspace_id] = count
        else:
            self._connections.pop(workspace_id, None)

    def connection_count(self, workspace_id: int) -> int:
        return self._connections.get(workspace_id, 0)

    def forget_workspace(self, workspace_id: int) -> None:
        for store in (self._history, self._last_ids, self._members):
            for key in [key for key in store if key[0] == workspace_id]:
                del store[key]
        self._connections.pop(workspace_id, None)
