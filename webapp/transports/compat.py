"""Work-arounds for libraries under the async modes we support."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def make_simple_websocket_send_whole_frames() -> None:
    """Make simple-websocket write each frame whole.

    python-engineio serves WebSocket clients through simple-websocket under
    gevent (and threading). Its ``send`` writes with ``socket.send``, which
    may take only part of a frame when the client's socket buffer is full:
    the rest is lost and the client's stream is corrupt. ``sendall`` waits
    (cooperatively under gevent) until the whole frame is written.
    """
    from simple_websocket import ws
    from wsproto.events import BytesMessage, TextMessage

    if getattr(ws.Base.send, "_writes_whole_frames", False):
        return

    def send(self, data):
        if not self.connected:
            raise ws.ConnectionClosed(self.close_reason, self.close_message)
        if isinstance(data, bytes):
            event = BytesMessage(data=data)
        else:
            event = TextMessage(data=str(data))
        self.sock.sendall(self.ws.send(event))

    send._writes_whole_frames = True
    ws.Base.send = send
    logger.debug("simple-websocket now writes whole frames")
