"""This process's place among the server processes, and news of those that died.

Every second the engine renews the process's liveness in the backend and asks
it for the members of processes that stopped renewing theirs (killed without
warning): their presence leaves are announced here, to every process. When
the backend lost this process (an empty restart of Redis, or the others took
it for dead), its connections and members are recorded again.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from webapp.backends.base import ClusterMessage
from webapp.realtime.presence import presence_update_frame
from webapp.realtime.sink import Audience, Outgoing

if TYPE_CHECKING:
    from webapp.realtime.engine import Engine

logger = logging.getLogger(__name__)


def check_liveness(engine: Engine) -> int:
    """Beat, register again if needed, announce the dead's leaves; count those.

    :raises BackendUnavailableError: when the backend cannot be reached.
    """
    backend = engine.backend
    found = backend.beat()
    if found != "alive":
        register_again(engine, announce=found == "reaped")
    announced = 0
    for departure in backend.reap():
        if departure.presence:
            ws, channel = departure.workspace_id, departure.channel
            announce_presence(engine, ws, channel, "leave", departure.client)
            announced += 1
    return announced


def register_again(engine: Engine, announce: bool) -> None:
    """Record this process's connections and members in the backend again.

    With ``announce`` the others had announced their leaves, so the members
    with presence are announced as joining again.
    """
    connections = engine.connections.all()
    counts = Counter(connection.workspace_id for connection in connections)
    for workspace_id, count in counts.items():
        engine.backend.set_connections(workspace_id, count)
    for connection in connections:
        ws = connection.workspace_id
        for channel, membership in list(connection.memberships.items()):
            engine.backend.add_member(
                ws,
                channel,
                connection.socket_id,
                connection.client,
                membership.presence,
            )
            if announce and membership.presence:
                announce_presence(engine, ws, channel, "join", connection.client)
    logger.info("registered %s connections again", len(connections))


def announce_presence(
    engine: Engine, workspace_id: int, channel: str, action: str, client: dict[str, Any]
) -> None:
    """Tell the channel's presence members everywhere that ``client`` came or went."""
    frame = presence_update_frame(channel, action, client)
    message = ClusterMessage(
        "broadcast", workspace_id, channel, frame, int(Audience.PRESENCE)
    )
    engine.backend.publish(message)
    engine.rooms.deliver(workspace_id, channel, Outgoing(frame), Audience.PRESENCE)


def resync_settings(engine: Engine) -> None:
    """Reload and enforce the settings of every workspace with clients here.

    Called when the listener hears the other processes again: a settings
    change announced while it was deaf never reached this process.

    Limitation: a workspace cached only for server-side events (no client
    here) keeps its cached settings until its next change or client.
    """
    workspaces = {connection.workspace_id for connection in engine.connections.all()}
    for workspace_id in sorted(workspaces):
        engine.workspace_changed(workspace_id, share=False)
