"""Lightweight benchmark clients: Socket.IO over a raw WebSocket, and plain WebSocket.

The load generator holds thousands of these in one asyncio process. Each is a
picows WebSocket whose frames arrive through a callback, with no task per
connection, so receiving costs little next to what the servers spend. The
Socket.IO client speaks Engine.IO 4 / Socket.IO 5 text packets itself: open
``0{...}``, namespace connect ``40/rt,{auth}``, events ``42/rt,["rt",frame]``,
acks ``43/rt,<id>[...]`` and server pings ``2`` answered with ``3``. Neither
client reconnects: a benchmark connection that drops is counted, not hidden.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

NAMESPACE = "/rt"
_EVENT = "42" + NAMESPACE + ","
_ACK = "43" + NAMESPACE + ","
_CONNECT = "40" + NAMESPACE + ","
_ENGINE_IO_PATH = "/socket.io/?EIO=4&transport=websocket"

# Called with the connection and the raw text of every frame it receives.
FrameHandler = Callable[["Connection", str], None]


class ProtocolError(RuntimeError):
    """The server answered something a benchmark client cannot go on from."""


def _ignore(connection: Connection, text: str) -> None:
    return None


class _Listener(WSListener):
    """Hands each complete text message of one socket to its connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._parts: list[str] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
            return
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.CONTINUATION):
            return
        text = frame.get_payload_as_utf8_text()
        if not frame.fin:
            self._parts.append(text)
            return
        if self._parts:
            text = "".join(self._parts) + text
            self._parts.clear()
        self.connection._receive(text)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connection.closed.set()


class Connection(ABC):
    """One client connection; subclasses speak a transport."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.transport: WSTransport | None = None
        self.on_frame: FrameHandler = _ignore
        self.errors: list[str] = []
        self.closed = asyncio.Event()
        # While set, every message goes here instead (the handshake reads it).
        self._handshake: asyncio.Queue[str] | None = None

    @abstractmethod
    async def open(self, connection_hash: str) -> None:
        """Connect and finish the transport's handshake."""

    @abstractmethod
    async def join(self, channel: str, timeout: float) -> None:
        """Join ``channel`` and wait until the server confirms it."""

    @abstractmethod
    def send_frame(self, frame: dict[str, Any]) -> None:
        """Send one frame (buffered by the transport, never blocking)."""

    @staticmethod
    @abstractmethod
    def decode(text: str) -> dict[str, Any] | None:
        """Return the frame carried by ``text``, or None if it carries none."""

    async def close(self) -> None:
        """Close the socket."""
        if self.transport is not None and not self.closed.is_set():
            self.transport.send_close()
            self.transport.disconnect()
            await self.closed.wait()

    async def _connect(self, url: str) -> None:
        self._handshake = asyncio.Queue()
        self.transport, _ = await ws_connect(lambda: _Listener(self), url)

    @abstractmethod
    def _receive(self, text: str) -> None:
        """Handle one text message from the server."""

    def _send_text(self, text: str) -> None:
        if not self.closed.is_set():
            self.transport.send(WSMsgType.TEXT, text.encode())

    def _dispatch(self, text: str) -> None:
        if '"error"' in text:
            frame = self.decode(text) or {}
            if frame.get("action") == "error":
                self._record_error(frame)
                return
        self.on_frame(self, text)

    def _record_error(self, frame: dict[str, Any]) -> None:
        self.errors.append(str((frame.get("payload") or {}).get("code")))

    def _check_errors(self, what: str) -> None:
        if self.errors:
            raise ProtocolError(f"{what}: server sent error {self.errors[-1]}")


def _join_frame(channel: str) -> dict[str, Any]:
    return {
        "action": "join",
        "options": {"channel": channel},
        "payload": {"presence": False, "history": False},
    }


class SocketIOConnection(Connection):
    """Socket.IO 5 over Engine.IO 4, WebSocket transport only."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url.replace("http", "ws", 1) + _ENGINE_IO_PATH)
        self._next_ack = 1
        self._acks: dict[int, asyncio.Future] = {}

    async def open(self, connection_hash: str) -> None:
        await self._connect(self.url)
        opening = await self._handshake.get()
        if not opening.startswith("0"):
            raise ProtocolError(f"expected an Engine.IO open packet, got {opening!r}")
        auth = json.dumps({"hash": connection_hash, "token": None})
        self._send_text(_CONNECT + auth)
        answer = await self._handshake.get()
        if not answer.startswith(_CONNECT):
            raise ProtocolError(f"namespace connect refused: {answer[:200]!r}")
        self._handshake = None

    async def join(self, channel: str, timeout: float) -> None:
        # The bare server sends nothing back on join, so completion is a
        # Socket.IO acknowledgement, which python-socketio sends for any event.
        ack_id = self._next_ack
        self._next_ack += 1
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        event = json.dumps(["rt", _join_frame(channel)])
        self._send_text(f"42{NAMESPACE},{ack_id}{event}")
        await asyncio.wait_for(future, timeout)
        self._check_errors(f"join {channel}")

    def send_frame(self, frame: dict[str, Any]) -> None:
        self._send_text(_EVENT + json.dumps(["rt", frame], separators=(",", ":")))

    @staticmethod
    def decode(text: str) -> dict[str, Any] | None:
        if not text.startswith(_EVENT):
            return None
        event = json.loads(text[len(_EVENT) :])
        return event[1] if len(event) > 1 and event[0] == "rt" else None

    def _receive(self, text: str) -> None:
        if text == "2":
            self._send_text("3")
        elif self._handshake is not None:
            self._handshake.put_nowait(text)
        elif text.startswith(_EVENT):
            self._dispatch(text)
        elif text.startswith(_ACK):
            self._resolve_ack(text[len(_ACK) :])
        elif text.startswith(("41", "1")):
            self.transport.disconnect()

    def _resolve_ack(self, body: str) -> None:
        digits = len(body) - len(body.lstrip("0123456789"))
        future = self._acks.pop(int(body[:digits]), None)
        if future is not None and not future.done():
            future.set_result(None)


class WebSocketConnection(Connection):
    """The plain WebSocket transport: one frame per text message."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url.replace("http", "ws", 1))
        self._joins: dict[str, asyncio.Future] = {}

    async def open(self, connection_hash: str) -> None:
        await self._connect(f"{self.url}/rt/{connection_hash}")
        self._handshake = None

    async def join(self, channel: str, timeout: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._joins[channel] = future
        self.send_frame(_join_frame(channel))
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._joins.pop(channel, None)
        self._check_errors(f"join {channel}")

    def send_frame(self, frame: dict[str, Any]) -> None:
        self._send_text(json.dumps(frame, separators=(",", ":")))

    @staticmethod
    def decode(text: str) -> dict[str, Any] | None:
        frame = json.loads(text)
        return frame if isinstance(frame, dict) else None

    def _receive(self, text: str) -> None:
        if self._joins and '"join"' in text:
            frame = self.decode(text) or {}
            channel = (frame.get("options") or {}).get("channel")
            if frame.get("action") == "join" and channel in self._joins:
                self._joins.pop(channel).set_result(None)
                return
        self._dispatch(text)

    def _record_error(self, frame: dict[str, Any]) -> None:
        # A refused join is answered by an error frame instead of a join frame.
        super()._record_error(frame)
        future = self._joins.pop((frame.get("options") or {}).get("channel"), None)
        if future is not None and not future.done():
            future.set_result(None)


TRANSPORTS: dict[str, type[Connection]] = {
    "socketio": SocketIOConnection,
    "websocket": WebSocketConnection,
}
