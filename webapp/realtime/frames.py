"""Client frames: envelope validation and the one dispatcher every transport uses.

:func:`validate_frame` turns a decoded JSON value into a :class:`ClientFrame`
or raises ``invalid_frame``/``invalid_channel``. :class:`Dispatcher` runs the
action: rule checks first, then the engine's rooms and backend; it returns the
frames for the sender and leaves broadcasts to the rooms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webapp.backends.base import BackendUnavailableError
from webapp.realtime.channels import channel_problem
from webapp.realtime.errors import (
    AuthRequiredError,
    ChannelNotAllowedError,
    HistoryDisabledError,
    InvalidChannelError,
    InvalidFrameError,
    NotJoinedError,
    PublishNotAllowedError,
    UnavailableError,
    UnknownClientError,
)
from webapp.realtime.history import history_frame, replay_frame, visible_entries
from webapp.realtime.ordering import (
    count_own_store,
    own_store_landed,
    wait_for_own_stores,
)
from webapp.realtime.presence import presence_full_frame
from webapp.realtime.rules import (
    WorkspaceSnapshot,
    find_rule,
    may_direct,
    may_join,
    may_publish,
    receives,
)
from webapp.realtime.sink import Audience, Outgoing

if TYPE_CHECKING:
    from webapp.realtime.connection import Connection, Membership
    from webapp.realtime.engine import Engine

ACTIONS = frozenset(("join", "leave", "message", "history"))
_OPTION_TYPES = {"socketId": str, "authenticated": bool}
_JOIN_FLAGS = ("presence", "history")

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ClientFrame:
    """A valid frame from a client."""

    action: str
    channel: str
    options: dict[str, Any]
    payload: Any


def _check_join_payload(payload: Any) -> None:
    if payload is None:
        return
    if not isinstance(payload, dict):
        raise InvalidFrameError("A join payload must be an object.")
    for flag in _JOIN_FLAGS:
        if not isinstance(payload.get(flag, False), bool):
            raise InvalidFrameError(f"The join option {flag} must be true or false.")
    since = payload.get("since")
    if since is not None and (type(since) is not int or since < 0):
        raise InvalidFrameError("The join option since must be a history id.")


def validate_frame(data: Any) -> ClientFrame:
    """Check a decoded frame's envelope and return it as a :class:`ClientFrame`."""
    if not isinstance(data, dict):
        raise InvalidFrameError("A frame must be a JSON object.")
    action = data.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise InvalidFrameError("Unknown action.")
    options = data.get("options")
    if options is None:
        options = {}
    elif not isinstance(options, dict):
        raise InvalidFrameError("The options must be an object.")
    channel = options.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise InvalidFrameError("The channel option must be a string.")
    for name, kind in _OPTION_TYPES.items():
        value = options.get(name)
        if value is not None and not isinstance(value, kind):
            raise InvalidFrameError(f"The option {name} has the wrong type.")
    problem = channel_problem(channel)
    if problem is not None:
        raise InvalidChannelError(problem)

    payload = data.get("payload")
    if action == "join":
        _check_join_payload(payload)
    return ClientFrame(action, channel, options, payload)


def join_frame(
    channel: str, presence: bool, history: bool, client: dict[str, Any]
) -> dict[str, Any]:
    """Return the frame confirming a join, with what the rule granted."""
    return {
        "action": "join",
        "options": {"channel": channel},
        "client": client,
        "payload": {"presence": presence, "history": history},
    }


def leave_frame(channel: str, client: dict[str, Any]) -> dict[str, Any]:
    """Return the frame confirming a leave."""
    return {
        "action": "leave",
        "options": {"channel": channel},
        "client": client,
        "payload": {},
    }


def _not_in(
    held: list[dict[str, Any]], replies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return the held frames whose history entry the replies do not carry."""
    ids = set()
    for reply in replies:
        if reply["action"] in ("message", "event"):
            ids.add(reply["options"].get("id"))
        elif reply["action"] == "history":
            ids.update(entry["id"] for entry in reply["payload"]["history"])
    ids.discard(None)
    return [
        frame
        for frame in held
        if frame["action"] not in ("message", "event")
        or frame["options"].get("id") not in ids
    ]


class Dispatcher:
    """Run client frames against an engine's rooms and backend."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._handlers = {
            "join": self._join,
            "leave": self._leave,
            "message": self._message,
            "history": self._history,
        }

    def dispatch(
        self, connection: Connection, frame: ClientFrame, snapshot: WorkspaceSnapshot
    ) -> list[dict[str, Any]]:
        """Run ``frame`` for ``connection``; return the frames for the sender.

        :raises RealtimeError: the error to answer with.
        :raises BackendUnavailableError: when the backend cannot be reached.
        """
        if connection.stores_pending and (
            frame.action != "message" or "socketId" in frame.options
        ):
            wait_for_own_stores(connection)
        return self._handlers[frame.action](connection, frame, snapshot)

    def _join(
        self, connection: Connection, frame: ClientFrame, snapshot: WorkspaceSnapshot
    ) -> list[dict[str, Any]]:
        # With ``since`` the replay replaces the history frame: the client has
        # seen the rest, and both would deliver the same entries twice.
        channel = frame.channel
        rule = find_rule(snapshot, channel)
        if rule is None:
            raise ChannelNotAllowedError(channel=channel)
        authenticated = connection.authenticated
        if not may_join(rule, authenticated):
            raise AuthRequiredError(channel=channel)

        asked = frame.payload or {}
        presence = rule.presence and asked.get("presence", False)
        readable = rule.history_size > 0 and receives(rule, authenticated)
        history = readable and asked.get("history", False)
        since = asked.get("since") if readable else None
        # Held while presence and history are read: what the channel gets
        # meanwhile follows the catch-up instead of overtaking it.
        self._engine.rooms.join(connection, channel, rule, presence, hold=True)

        replies = [join_frame(channel, presence, history, connection.client)]
        rooms = self._engine.rooms
        try:
            with rooms.held_for_catch_up(connection.workspace_id, channel):
                replies.extend(
                    self._catch_up(connection, channel, presence, history, since)
                )
                held = rooms.release(connection, channel)
        except BackendUnavailableError:
            # A client told that its join failed must not stay a member.
            rooms.leave(connection, channel)
            raise
        return replies + _not_in(held, replies)

    def _catch_up(
        self,
        connection: Connection,
        channel: str,
        presence: bool,
        history: bool,
        since: int | None,
    ) -> list[dict[str, Any]]:
        backend = self._engine.backend
        ws = connection.workspace_id
        replies = []
        if presence:
            replies.append(presence_full_frame(channel, backend.presence(ws, channel)))
        if since is not None:
            replies.extend(self._resume(connection, channel, since))
        elif history:
            entries = backend.history(ws, channel)
            entries = visible_entries(entries, connection.authenticated)
            replies.append(history_frame(channel, entries))
        return replies

    def _resume(
        self, connection: Connection, channel: str, since: int
    ) -> list[dict[str, Any]]:
        backend = self._engine.backend
        ws = connection.workspace_id
        entries = backend.history_since(ws, channel, since)
        if entries is None:
            # The client may have missed something: it gets all there is.
            entries = backend.history(ws, channel)
            entries = visible_entries(entries, connection.authenticated)
            return [history_frame(channel, entries)]
        entries = visible_entries(entries, connection.authenticated)
        return [replay_frame(entry) for entry in entries]

    def _leave(
        self, connection: Connection, frame: ClientFrame, snapshot: WorkspaceSnapshot
    ) -> list[dict[str, Any]]:
        self._membership(connection, frame.channel)
        self._engine.rooms.leave(connection, frame.channel)
        return [leave_frame(frame.channel, connection.client)]

    def _message(
        self, connection: Connection, frame: ClientFrame, snapshot: WorkspaceSnapshot
    ) -> list[dict[str, Any]]:
        channel = frame.channel
        membership = self._membership(connection, channel)
        rule = membership.room.rule
        authenticated_only = frame.options.get("authenticated") is True
        target = frame.options.get("socketId")
        if target is not None:
            return self._direct(connection, membership, frame, target)
        if not may_publish(rule, connection.authenticated):
            raise PublishNotAllowedError(channel=channel)

        message = {
            "action": "message",
            "options": {"channel": channel, "authenticated": authenticated_only},
            "client": connection.client,
            "payload": frame.payload,
        }
        restricted = authenticated_only or rule.receive == "authenticated"
        audience = Audience.AUTHENTICATED if restricted else Audience.ALL

        def stored(error: BackendUnavailableError | None) -> None:
            try:
                if error is not None and not connection.closed:
                    logger.debug("%s for %s", error, connection.socket_id)
                    refusal = UnavailableError().to_frame(channel)
                    connection.sink.send(connection, Outgoing(refusal))
            finally:
                own_store_landed(connection)

        # The sender's next frame is read while this one is being stored;
        # ``stored`` runs exactly once.
        count_own_store(connection)
        self._engine.rooms.broadcast(
            connection.workspace_id,
            channel,
            message,
            audience,
            rule.history_size,
            self._engine.now_ms(),
            then=stored,
        )
        return []

    def _direct(
        self,
        connection: Connection,
        membership: Membership,
        frame: ClientFrame,
        target: str,
    ) -> list[dict[str, Any]]:
        channel = frame.channel
        room = membership.room
        if not may_direct(room.rule, connection.authenticated):
            raise PublishNotAllowedError(
                "This channel does not let this client send direct messages.",
                channel=channel,
            )
        authenticated_only = frame.options.get("authenticated") is True
        restricted = authenticated_only or room.rule.receive == "authenticated"
        client = self._engine.rooms.member_client(room, target)
        if client is None or (restricted and not client["authenticated"]):
            raise UnknownClientError(channel=channel)

        message = {
            "action": "message",
            "options": {
                "channel": channel,
                "authenticated": authenticated_only,
                "socketId": target,
            },
            "client": connection.client,
            "payload": frame.payload,
        }
        self._engine.rooms.send_direct(room, target, message)
        return []

    def _history(
        self, connection: Connection, frame: ClientFrame, snapshot: WorkspaceSnapshot
    ) -> list[dict[str, Any]]:
        channel = frame.channel
        rule = self._membership(connection, channel).room.rule
        if rule.history_size <= 0:
            raise HistoryDisabledError(channel=channel)
        if not receives(rule, connection.authenticated):
            raise AuthRequiredError(channel=channel)

        entries = self._engine.backend.history(connection.workspace_id, channel)
        entries = visible_entries(entries, connection.authenticated)
        return [history_frame(channel, entries)]

    @staticmethod
    def _membership(connection: Connection, channel: str) -> Membership:
        membership = connection.memberships.get(channel)
        if membership is None:
            raise NotJoinedError(channel=channel)
        return membership
