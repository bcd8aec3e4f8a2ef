"""A deliberately minimal plain-WebSocket room server, to find the generator's ceiling.

It speaks the frames the benchmarks use (``join`` answered with a ``join``
frame, ``message`` sent to every member) over ``ws://127.0.0.1:PORT/rt/<any>``,
on picows and uvloop, encoding each message once. Nothing else: no rules, no
history, no Socket.IO. Whatever figures the generator reaches against it are
the most it can measure, so a server that comes close to them may be faster
than the table says.

Run: ``python bench/floor_server.py --port 8766``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

_members: dict[str, list[WSTransport]] = defaultdict(list)


class _Client(WSListener):
    """One connection: joins channels and publishes to them."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        received = json.loads(frame.get_payload_as_utf8_text())
        channel = received["options"]["channel"]
        if received["action"] == "join":
            _members[channel].append(transport)
            reply = {"action": "join", "options": {"channel": channel}, "payload": {}}
            transport.send(WSMsgType.TEXT, json.dumps(reply).encode())
        elif received["action"] == "message":
            self._publish(channel, received.get("payload"))

    def _publish(self, channel: str, payload: object) -> None:
        outgoing = {
            "action": "message",
            "options": {"channel": channel},
            "payload": payload,
            "client": {"socketId": "floor"},
        }
        data = json.dumps(outgoing, separators=(",", ":")).encode()
        for member in _members[channel]:
            member.send(WSMsgType.TEXT, data)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for members in _members.values():
            if transport in members:
                members.remove(transport)


async def _serve(port: int) -> None:
    server = await ws_create_server(lambda request: _Client(), "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    uvloop.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
