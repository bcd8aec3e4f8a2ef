"""WebSocket clients on a bare socket, for tests that need to misbehave.

A :class:`RawWebSocket` does the upgrade handshake itself and reads only when
told to, so a test can stop reading altogether (a stalled client) and look at
everything the server sent afterwards, close frames included.
:class:`RawSocketIO` speaks Engine.IO 4 / Socket.IO 5 text packets over it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
WAIT_SECONDS = 10


class RawWebSocket:
    """A WebSocket client connection that reads only when asked.

    ``receive_buffer`` shrinks the socket's receive buffer (before connecting),
    so that a client that stops reading fills up after a few frames.
    """

    def __init__(self, url: str, receive_buffer: int | None = None) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket()
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(WAIT_SECONDS)
        self.sock.connect((parts.hostname, parts.port))
        self._buffer = b""
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._handshake(parts.netloc, target)

    def _handshake(self, host: str, target: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed during the handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def send_text(self, text: str) -> None:
        """Send one masked text frame, as a client must."""
        self._send(OPCODE_TEXT, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def next_frame(self, timeout: float = WAIT_SECONDS) -> tuple[int, bytes] | None:
        """Return the next (opcode, payload) from the server; None at its end."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionError, TimeoutError):
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        data = self._buffer
        if len(data) < 2:
            return None
        opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < offset + length:
            return None
        self._buffer = data[offset + length :]
        return opcode, data[offset : offset + length]

    def read_to_end(self, timeout: float = WAIT_SECONDS) -> list[tuple[int, bytes]]:
        """Read every frame until the server closes (or ``timeout`` passes)."""
        frames = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.next_frame(deadline - time.monotonic())
            if frame is None:
                break
            frames.append(frame)
        return frames

    def close(self) -> None:
        self.sock.close()


def close_code(payload: bytes) -> int | None:
    """Return the code of a close frame's payload."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def texts(frames: list[tuple[int, bytes]]) -> list[str]:
    """Return the text messages among ``frames``."""
    return [payload.decode() for opcode, payload in frames if opcode == OPCODE_TEXT]


class RawSocketIO:
    """A Socket.IO client of ``/rt`` on a :class:`RawWebSocket`."""

    prefix = "42/rt,"

    def __init__(
        self, base_url: str, connection_hash: str, receive_buffer: int | None = None
    ) -> None:
        url = base_url.replace("http://", "ws://", 1)
        self.ws = RawWebSocket(
            url + "/socket.io/?EIO=4&transport=websocket", receive_buffer
        )
        opening = self.next_text()
        assert opening is not None and opening.startswith("0"), opening
        auth = json.dumps({"hash": connection_hash, "token": None})
        self.ws.send_text("40/rt," + auth)
        connected = self.next_text()
        assert connected is not None and connected.startswith("40/rt,"), connected

    def next_text(self, timeout: float = WAIT_SECONDS) -> str | None:
        """Return the next text packet, answering pings; None at the end."""
        while True:
            frame = self.ws.next_frame(timeout)
            if frame is None:
                return None
            opcode, payload = frame
            if opcode == OPCODE_CLOSE:
                return None
            if opcode != OPCODE_TEXT:
                continue
            text = payload.decode()
            if text == "2":
                self.ws.send_text("3")
                continue
            return text

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send_text(self.prefix + json.dumps(["rt", frame]))

    def next_frame(self) -> dict[str, Any]:
        """Return the next ``rt`` frame, skipping other packets."""
        while True:
            text = self.next_text()
            assert text is not None, "the server closed the connection"
            if text.startswith(self.prefix):
                return json.loads(text[len(self.prefix) :])[1]

    def join(self, channel: str, **payload: Any) -> dict[str, Any]:
        self.send(
            {"action": "join", "options": {"channel": channel}, "payload": payload}
        )
        frame = self.next_frame()
        assert frame["action"] == "join", frame
        return frame

    def close(self) -> None:
        self.ws.close()
