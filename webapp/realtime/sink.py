"""What the engine hands frames to: transport sinks and once-encoded frames.

Each transport registers one :class:`Sink` with the engine. The engine builds a
frame once, wraps it in an :class:`Outgoing` (which encodes it at most once)
and asks every sink that has local members in the channel to deliver it.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from webapp.backends.base import (
    AUDIENCE_ALL,
    AUDIENCE_AUTHENTICATED,
    AUDIENCE_PRESENCE,
)

if TYPE_CHECKING:
    from webapp.realtime.connection import Connection, Room


class Audience(IntEnum):
    """Which members of a channel a broadcast reaches."""

    ALL = AUDIENCE_ALL
    AUTHENTICATED = AUDIENCE_AUTHENTICATED
    PRESENCE = AUDIENCE_PRESENCE


# One encoder for every frame: json.dumps would build one per call.
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(frame: Any) -> str:
    """Return the compact JSON text of a frame."""
    return _encoder.encode(frame)


class Outgoing:
    """A frame to send, encoded to JSON text at most once, on first use."""

    __slots__ = ("frame", "_text")

    def __init__(self, frame: dict[str, Any], text: str | None = None) -> None:
        self.frame = frame
        self._text = text

    @property
    def text(self) -> str:
        """Return the frame's JSON text (a WebSocket message)."""
        if self._text is None:
            self._text = encode(self.frame)
        return self._text

    def __repr__(self) -> str:
        return f"Outgoing({self.frame!r})"


class Sink(Protocol):
    """A transport's side of delivery; the engine calls it, never the reverse.

    A sink keeps its own index of which of its connections are in which room
    (:meth:`attach`/:meth:`detach`), so that :meth:`deliver` can reach them in
    one step, such as a single Socket.IO emit to a room.
    """

    def attach(self, connection: Connection, room: Room, presence: bool) -> None:
        """Put a connection in the room's audiences (again, after a re-join)."""
        ...

    def detach(self, connection: Connection, room: Room) -> None:
        """Take a connection out of every audience of the room."""
        ...

    def deliver(self, room: Room, outgoing: Outgoing, audience: Audience) -> None:
        """Send a frame to this sink's connections in the room's ``audience``."""
        ...

    def send(self, connection: Connection, outgoing: Outgoing) -> None:
        """Send a frame to one connection."""
        ...

    def close(
        self, connection: Connection, code: int, outgoing: Outgoing | None
    ) -> None:
        """Send ``outgoing`` if given, then close the connection with ``code``."""
        ...
