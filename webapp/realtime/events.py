"""Server-side events: frames the builder's own backend sends to a channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from webapp.backends.base import BackendUnavailableError
from webapp.realtime.channels import channel_problem
from webapp.realtime.errors import (
    ChannelNotAllowedError,
    InvalidChannelError,
    RealtimeDisabledError,
    UnavailableError,
)
from webapp.realtime.rules import find_rule
from webapp.realtime.sink import Audience

if TYPE_CHECKING:
    from webapp.realtime.engine import Engine

logger = logging.getLogger(__name__)


def event_frame(channel: str, data: Any) -> dict[str, Any]:
    """Return the ``event`` frame carrying ``data``; no client caused it."""
    return {
        "action": "event",
        "options": {"channel": channel},
        "client": None,
        "payload": {"data": data},
    }


def publish_event(
    engine: Engine, workspace_id: int, channel: Any, data: Any
) -> dict[str, Any]:
    """Send an ``event`` frame to a channel's members; return it as delivered.

    The channel's rule applies as to a message: who receives it, and whether
    it is kept in history (then it carries its id).
    """
    problem = channel_problem(channel)
    if problem is not None:
        raise InvalidChannelError(problem)
    try:
        snapshot = engine.settings.for_id(workspace_id)
    except Exception:
        logger.exception("could not load the settings of workspace %s", workspace_id)
        raise UnavailableError() from None
    if snapshot is None or not snapshot.enabled:
        raise RealtimeDisabledError()
    rule = find_rule(snapshot, channel)
    if rule is None:
        raise ChannelNotAllowedError(channel=channel)

    everyone = rule.receive == "everyone"
    audience = Audience.ALL if everyone else Audience.AUTHENTICATED
    frame = event_frame(channel, data)
    try:
        return engine.rooms.broadcast(
            workspace_id, channel, frame, audience, rule.history_size, engine.now_ms()
        )
    except BackendUnavailableError:
        raise UnavailableError(channel=channel) from None
