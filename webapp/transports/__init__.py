"""Transports: thin adapters between the wire and the realtime core."""

from __future__ import annotations

from flask import Flask

from webapp.extensions import socketio
from webapp.realtime.engine import Engine
from webapp.transports.compat import make_simple_websocket_send_whole_frames
from webapp.transports.settings import snapshot_loaders, token_verifier
from webapp.transports.shutdown import handle_sigterm, shutdown_transports
from webapp.transports.socketio_rt import init_socketio
from webapp.transports.websocket_rt import init_websocket
from webapp.transports.wsgi import install_wsgi

__all__ = ["handle_sigterm", "init_transports", "shutdown_transports"]


def init_transports(app: Flask) -> None:
    """Build the realtime engine and attach the transports to ``app``.

    The engine lands in ``app.extensions["realtime"]`` and the plain
    WebSocket transport in ``app.extensions["realtime_websocket"]``; the
    engine's background tasks start with the first client connection.
    """
    load_by_hash, load_by_id = snapshot_loaders(app)
    engine = Engine(
        app.extensions["realtime_backend"],
        load_by_hash,
        load_by_id,
        token_verifier(app),
    )
    app.extensions["realtime"] = engine
    if app.config["ASYNC_MODE"] != "eventlet":
        # Outside eventlet, python-engineio writes through simple-websocket.
        make_simple_websocket_send_whole_frames()
    # socketio.server is the server init_app just made for this app.
    init_socketio(engine, socketio.server)
    install_wsgi(app, socketio)
    app.extensions["realtime_websocket"] = init_websocket(
        app, engine, socketio.server.start_background_task, socketio.server.sleep
    )
