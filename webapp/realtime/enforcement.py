"""Enforcing a workspace's new settings on its connected clients, at once.

Realtime switched off (or the workspace deleted) closes every client; a new
connection hash closes the clients of the old one; a channel that no rule
matches any more, or whose rule now requires authentication, loses the
members the rule no longer admits. Changed limits and rules need nothing
here: every frame reads the current snapshot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from webapp.backends.base import BackendUnavailableError, ClusterMessage
from webapp.realtime.connection import Connection
from webapp.realtime.errors import (
    AuthRequiredError,
    ChannelNotAllowedError,
    InvalidHashError,
    RealtimeDisabledError,
    RealtimeError,
)
from webapp.realtime.rules import WorkspaceSnapshot, find_rule, may_join
from webapp.realtime.sink import Outgoing

if TYPE_CHECKING:
    from webapp.realtime.engine import Engine

logger = logging.getLogger(__name__)


def apply_workspace_change(engine: Engine, workspace_id: int, share: bool) -> None:
    """Reload a workspace's snapshot and enforce it; see Engine.workspace_changed."""
    if share:
        try:
            engine.backend.publish(ClusterMessage("settings", workspace_id))
        except BackendUnavailableError:
            logger.error("settings change of %s not shared: backend down", workspace_id)
    cached = engine.settings.get(workspace_id) is not None
    if not cached and not engine.connections_of(workspace_id):
        return
    snapshot = engine.settings.refresh(workspace_id)
    enforce_settings(engine, workspace_id, snapshot)
    if snapshot is None and share:
        # One process drops a deleted workspace's data: the one told first.
        try:
            engine.backend.forget_workspace(workspace_id)
        except BackendUnavailableError:
            logger.warning("could not drop data of workspace %s", workspace_id)


def enforce_settings(
    engine: Engine, workspace_id: int, snapshot: WorkspaceSnapshot | None
) -> None:
    """Apply ``snapshot`` (None: deleted) to the workspace's local clients."""
    connections = engine.connections_of(workspace_id)
    if snapshot is None or not snapshot.enabled:
        for connection in connections:
            engine.close(connection, RealtimeDisabledError())
        return
    for connection in connections:
        if connection.connection_hash != snapshot.connection_hash:
            engine.close(connection, InvalidHashError())

    for room in engine.rooms.of_workspace(workspace_id):
        rule = find_rule(snapshot, room.channel)
        if rule is not None:
            room.rule = rule
        for membership in list(room.members.values()):
            connection = membership.connection
            if rule is None:
                _evict(engine, connection, ChannelNotAllowedError(channel=room.channel))
            elif not may_join(rule, connection.authenticated):
                _evict(engine, connection, AuthRequiredError(channel=room.channel))


def _evict(engine: Engine, connection: Connection, error: RealtimeError) -> None:
    engine.rooms.leave(connection, error.channel or "")
    connection.sink.send(connection, Outgoing(error.to_frame()))
    logger.info(
        "removed %s from %s: %s", connection.socket_id, error.channel, error.code
    )
