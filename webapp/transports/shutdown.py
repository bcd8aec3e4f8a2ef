"""Graceful shutdown: on SIGTERM, tell every realtime client, then let the process go.

Plain WebSocket clients are closed with 1012 (the server is restarting), after
which the hosted SDK reconnects; Socket.IO clients lose their transport, after
which socket.io-client reconnects by itself. Both come back to whichever
process serves the address next and resume with ``since``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from typing import Any

from flask import Flask

from webapp.extensions import socketio

logger = logging.getLogger(__name__)

# How long closing clients may take before the process goes anyway.
SHUTDOWN_GRACE_SECONDS = 3.0
# Time left for the last close frames to leave once every queue is empty.
_LINGER_SECONDS = 0.2
# How long a worker whose server lets it finish in its own time may take.
EXIT_AFTER_SECONDS = 5.0


def shutdown_transports(app: Flask, grace: float = SHUTDOWN_GRACE_SECONDS) -> int:
    """Close every realtime client of ``app`` as restarting; count them.

    New clients are turned away the same way from then on. Returns once the
    closes are sent, or after ``grace`` seconds.
    """
    engine = app.extensions["realtime"]
    closed = engine.shutdown()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not _drained(app):
        socketio.sleep(0.05)
    socketio.sleep(_LINGER_SECONDS)
    # A client admitted while the first pass ran is closed now.
    closed += engine.shutdown()
    engine.stop()
    logger.info("realtime shut down: %s clients told to reconnect", closed)
    return closed


def _drained(app: Flask) -> bool:
    """Tell whether every client is gone, every close sent, every message stored."""
    if app.extensions["realtime_websocket"].clients:
        return False
    if not app.extensions["realtime"].rooms.settled():
        return False
    sockets = list(socketio.server.eio.sockets.values())
    return all(sock.closed and sock.queue.qsize() == 0 for sock in sockets)


def handle_sigterm(app: Flask) -> None:
    """Shut the realtime transports down on SIGTERM, then do what SIGTERM did.

    Under gunicorn that is the worker's own handler (which then lets the worker
    exit); under ``python app.py`` it is the default, ending the process. The
    signal only wakes a task waiting on a socket pair: the work runs in that
    task, where the async mode's networking is allowed, and starts at once
    even when the server is idle.

    Limitation: with gunicorn's ``--preload`` the worker installs its own
    handler after this one, and clients then see the connection drop (1006)
    instead of 1012; both SDKs reconnect after either.
    """
    previous = signal.getsignal(signal.SIGTERM)
    wake_reader, wake_writer = socket.socketpair()
    wake_writer.setblocking(False)

    def on_sigterm(signum: int, frame: Any) -> None:
        try:
            wake_writer.send(b"\0")
        except OSError:
            # A second SIGTERM while the first is being handled.
            pass

    def wait_for_sigterm() -> None:
        wake_reader.recv(1)
        logger.info("SIGTERM: closing realtime clients")
        try:
            shutdown_transports(app)
        except Exception:
            logger.exception("realtime shutdown failed")
        _after_shutdown(previous)

    socketio.server.start_background_task(wait_for_sigterm)
    signal.signal(signal.SIGTERM, on_sigterm)


def _after_shutdown(previous: Any) -> None:
    if previous == signal.SIG_IGN:
        return
    if callable(previous):
        # gunicorn's worker stops accepting and waits for its requests, but
        # eventlet does not wake a task reading a Socket.IO connection that
        # another task closed: it would wait for its socket timeout (45 s).
        previous(signal.SIGTERM, None)
        socketio.sleep(EXIT_AFTER_SECONDS)
        logging.shutdown()
        os._exit(0)
    logging.shutdown()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
