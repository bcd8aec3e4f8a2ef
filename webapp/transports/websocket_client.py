"""One plain WebSocket connection's sending side: its state and outgoing queue.

Frames are written to the socket without waiting; what the socket cannot take
at once is queued and sent by a task of the connection's own. A client whose
queue passes :data:`MAX_QUEUED_BYTES` has what it has not taken dropped and is
closed with 1013 (``slow_consumer``).
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Callable
from enum import Enum
from threading import Lock
from typing import Any

from webapp.realtime.errors import SlowConsumerError
from webapp.realtime.sink import Outgoing
from webapp.transports import websocket_wire as wire

logger = logging.getLogger(__name__)

# What a client that does not read may have queued before it is closed.
MAX_QUEUED_BYTES = 1024 * 1024


class ClientState(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class WebSocketClient:
    """One plain WebSocket connection: its socket, state and outgoing queue."""

    __slots__ = (
        "sock",
        "_raw",
        "_spawn",
        "_lock",
        "state",
        "outbox",
        "queued_bytes",
        "flushing",
        "awaiting_pong",
        "on_overflow",
    )

    def __init__(self, sock: Any, spawn: Callable[..., Any]) -> None:
        self.sock = sock
        self._raw = wire.nonblocking_twin(sock)
        self._spawn = spawn
        # Limitation: without a non-blocking twin (threading mode) writes are
        # blocking and serialised by a lock, so a member that stops reading
        # holds up the broadcast that writes to it until its send times out.
        self._lock = Lock()
        self.state = ClientState.OPEN
        self.outbox: deque[bytes] = deque()
        self.queued_bytes = 0
        self.flushing = False
        self.awaiting_pong = False
        # Called (in a task of its own) when the client falls too far behind.
        self.on_overflow: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        """Send bytes, or queue what the socket cannot take right now."""
        if self.state is not ClientState.OPEN:
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._raw is None:
            with self._lock:
                try:
                    self.sock.sendall(data)
                except OSError:
                    self.abort()
            return
        if self.outbox:
            self._queue(data)
            return
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self._queue(data[sent:])

    def _queue(self, data: bytes) -> None:
        self.outbox.append(data)
        self.queued_bytes += len(data)
        if not self.flushing:
            self.flushing = True
            self._spawn(self._flush)
        if self.queued_bytes > MAX_QUEUED_BYTES and self.state is ClientState.OPEN:
            self._overflow()

    def _overflow(self) -> None:
        """Drop what the client has not taken, then close it with 1013.

        The first queued chunk stays: it may be a frame already partly sent,
        and cutting it would corrupt the stream. The error and close frames
        follow it, so a client that reads again learns why it was closed.
        """
        logger.info("closing a WebSocket client that stopped reading")
        self.outbox = deque([self.outbox[0]])
        self.queued_bytes = len(self.outbox[0])
        error = SlowConsumerError()
        self.close(error.close_code, Outgoing(error.to_frame()))
        if self.on_overflow is not None:
            # Not here: this runs inside a broadcast, which must not switch tasks.
            self._spawn(self.on_overflow)

    def _flush(self) -> None:
        try:
            while self.outbox and self.state is not ClientState.CLOSED:
                chunk = self.outbox[0]
                # The green socket waits for the peer without blocking others.
                self.sock.sendall(chunk)
                self.outbox.popleft()
                self.queued_bytes -= len(chunk)
        except OSError:
            self.abort()
        finally:
            self.flushing = False
        if self.state is ClientState.CLOSING and not self.outbox:
            self.finish_sending()

    def close(self, code: int, outgoing: Outgoing | None = None) -> None:
        """Send the error frame if any, then a close frame; stop sending."""
        if self.state is not ClientState.OPEN:
            return
        if outgoing is not None:
            self._write(wire.text_frame(outgoing.text))
        self._write(wire.close_frame(code))
        if self.state is ClientState.OPEN:
            self.state = ClientState.CLOSING
            if not self.outbox:
                self.finish_sending()

    def finish_sending(self) -> None:
        # Half-close: the client still reads our close frame, then answers.
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def abort(self) -> None:
        self.state = ClientState.CLOSED
        self.outbox.clear()
        self.queued_bytes = 0
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
