"""eventlet's HTTP server, with less buffer memory kept by every connection.

eventlet gives each connection a 16 KiB buffered writer and an 8 KiB
buffered reader. A WebSocket connection (a Socket.IO client's, or a plain
one) stays inside its upgrade request for its whole life and reads and writes
the socket directly, so both buffers are held, unused, as long as the client
stays. Here responses go straight to the socket: eventlet already joins each
write's pieces (status, headers, body chunk) and flushes after it, so the
buffer never held more than one write anyway. Requests are read through a
2 KiB buffer, which holds a usual request head in one read; a longer head
takes a few more reads, and a larger body is read past the buffer anyway.

Import this module only under eventlet.

Limitation: it relies on eventlet's handler keeping its files in ``rfile`` and
``wfile`` and sizing the reader by ``rbufsize``; ``tests/test_connection_memory.py``
checks responses, kept-alive connections and ``100 Continue`` through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import eventlet.wsgi


class SocketWriter:
    """A write-only file that sends each write whole, keeping nothing between."""

    __slots__ = ("_sock", "closed")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.closed = False

    def write(self, data: bytes) -> int:
        """Send ``data`` whole (waiting cooperatively); return its length."""
        if self.closed:
            raise ValueError("write to a closed file")
        self._sock.sendall(data)
        return len(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        """Send the pieces in one go."""
        self.write(b"".join(lines))

    def flush(self) -> None:
        """Nothing waits to be sent."""

    def close(self) -> None:
        """Refuse later writes; the server closes the socket itself."""
        self.closed = True


class LeanHttpProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's request handler: a smaller read buffer, no write buffer."""

    rbufsize = 2048

    def setup(self) -> None:
        super().setup()
        # Closing the buffered writer eventlet made drops its hold on the
        # socket; the socket itself stays open.
        self.wfile.close()
        self.wfile = SocketWriter(self.connection)
