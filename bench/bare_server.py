"""The floor of our stack: python-socketio on eventlet with plain rooms.

It speaks just enough of the realtime protocol for the benchmarks: namespace
``/rt``, every connection accepted, ``join`` enters a room named after the
channel and ``message`` emits to that room. No rules, presence or history, so
whatever the real server costs beyond this is our own doing.

Run: ``python bench/bare_server.py --port 8765`` (listens on 127.0.0.1 only).
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402

import eventlet.wsgi  # noqa: E402
import socketio  # noqa: E402

NAMESPACE = "/rt"

sio = socketio.Server(async_mode="eventlet", logger=False, engineio_logger=False)


@sio.on("connect", namespace=NAMESPACE)
def on_connect(sid: str, environ: dict, auth: object = None) -> bool:
    """Accept every client."""
    return True


@sio.on("rt", namespace=NAMESPACE)
def on_frame(sid: str, frame: object) -> None:
    """Join a room or emit a message frame to it; ignore anything else."""
    if not isinstance(frame, dict):
        return
    options = frame.get("options") or {}
    channel = options.get("channel")
    if not isinstance(channel, str):
        return
    action = frame.get("action")
    if action == "join":
        sio.enter_room(sid, channel, namespace=NAMESPACE)
    elif action == "message":
        sio.emit(
            "rt",
            {
                "action": "message",
                "options": {"channel": channel},
                "payload": frame.get("payload"),
                "client": {"socketId": sid},
            },
            room=channel,
            namespace=NAMESPACE,
        )


def _listen(port: int, backlog: int, nodelay: bool) -> socket.socket:
    listener = eventlet.listen(("127.0.0.1", port), backlog=backlog)
    if nodelay:
        # Accepted sockets inherit TCP_NODELAY from the listener on Linux.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-size", type=int, default=20000)
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument(
        "--nodelay",
        action="store_true",
        help="set TCP_NODELAY (eventlet does not): lower latency, more packets",
    )
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    app = socketio.WSGIApp(sio)
    eventlet.wsgi.server(
        _listen(args.port, args.backlog, args.nodelay),
        app,
        max_size=args.max_size,
        log_output=False,
    )


if __name__ == "__main__":
    main()
