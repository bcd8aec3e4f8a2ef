"""A plain WebSocket client of ``/rt/<hash>`` for tests, recording frames."""

from __future__ import annotations

import json
import queue
import struct
import threading
from typing import Any

import websocket

WAIT_SECONDS = 10


class WsRtClient:
    """Speak the protocol over a plain WebSocket, as the hosted SDK does.

    A reader thread queues every text frame (decoded) and records the close
    code the server sends.
    """

    def __init__(
        self, base_url: str, connection_hash: str, token: str | None = None
    ) -> None:
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.disconnected = threading.Event()
        self.close_code: int | None = None
        url = base_url.replace("http://", "ws://", 1) + "/rt/" + connection_hash
        self.ws = websocket.create_connection(
            url,
            subprotocols=[token] if token else None,
            timeout=WAIT_SECONDS,
            enable_multithread=True,
        )
        self.subprotocol = self.ws.getsubprotocol()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        self.ws.settimeout(None)
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self.frames.put(json.loads(data))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_code = struct.unpack("!H", data[:2])[0]
                    break
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.disconnected.set()

    def send_text(self, text: str) -> None:
        """Send one raw text message (which need not be a valid frame)."""
        self.ws.send(text)

    def send_frame(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def close(self) -> None:
        if not self.disconnected.is_set():
            try:
                self.ws.close(timeout=2)
            except (websocket.WebSocketException, OSError):
                pass
        # Whoever closed first, our socket is released here.
        self.ws.shutdown()
        self._reader.join(WAIT_SECONDS)
        self.disconnected.set()


class WsTestClient(WsRtClient):
    """The same conveniences as the Socket.IO test client, over plain WebSocket."""

    probe_channel = "zz-probe"

    def send(self, action: str, channel: str, payload: Any = None, **options) -> None:
        frame = {"action": action, "options": {"channel": channel, **options}}
        self.send_frame({**frame, "payload": payload})

    def next(self) -> dict[str, Any]:
        try:
            return self.frames.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            raise AssertionError("no frame arrived") from None

    def expect(self, action: str) -> dict[str, Any]:
        frame = self.next()
        assert frame["action"] == action, frame
        return frame

    def join(self, channel: str, **payload: Any) -> dict[str, Any]:
        """Join and return the ``join`` frame (later replies stay queued)."""
        self.send("join", channel, payload)
        return self.expect("join")

    def drain(self) -> list[dict[str, Any]]:
        """Return every frame that arrived before the answer to a probe."""
        self.send("history", self.probe_channel)
        frames = []
        while True:
            frame = self.next()
            if frame["action"] == "error" and frame["options"] == {
                "channel": self.probe_channel
            }:
                return frames
            frames.append(frame)

    def wait_disconnected(self) -> bool:
        return self.disconnected.wait(WAIT_SECONDS)
