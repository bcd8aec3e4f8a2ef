"""The Socket.IO transport in process, with Flask-SocketIO's test client.

Fast checks of the wiring between the ``/rt`` namespace, the engine and the
database-backed settings; the live modules cover real sockets.
"""

from __future__ import annotations

import pytest
import socketio

from webapp.extensions import db
from webapp.extensions import socketio as flask_socketio
from webapp.models import Builder, ChannelRule, Workspace
from webapp.realtime.engine import Engine
from webapp.transports.socketio_rt import init_socketio


def make_workspace(app, **fields) -> str:
    """Create a workspace with Realtime ready and a ``chat`` rule; return its hash."""
    fields = {"realtime_enabled": True, "realtime_state": "ready", **fields}
    with app.app_context():
        builder = Builder(email="sio@example.com", password_hash="!")
        workspace = Workspace(owner=builder, name="Chat", **fields)
        workspace.channel_rules = [
            ChannelRule(name="chat", presence=True, history_size=10),
            ChannelRule(name="room:*", nested=True),
        ]
        db.session.add(workspace)
        db.session.commit()
        return workspace.connection_hash


def connect(app, connection_hash: str, token: str | None = None):
    return flask_socketio.test_client(
        app, namespace="/rt", auth={"hash": connection_hash, "token": token}
    )


def frames(client) -> list[dict]:
    """Return and forget the frames received, even by a client disconnected since."""
    received = [event["args"][0] for event in client.queue if event["name"] == "rt"]
    client.queue.clear()
    return received


def test_client_joins_and_messages_through_the_namespace(app):
    connection_hash = make_workspace(app)
    client = connect(app, connection_hash)
    assert client.is_connected("/rt")

    client.emit(
        "rt", {"action": "join", "options": {"channel": "room:7"}}, namespace="/rt"
    )
    client.emit(
        "rt",
        {"action": "message", "options": {"channel": "room:7"}, "payload": "hi"},
        namespace="/rt",
    )

    joined, message = frames(client)
    assert joined["action"] == "join"
    assert message["payload"] == "hi"
    assert message["client"] == joined["client"]


def test_refused_client_gets_the_error_frame_then_is_disconnected(app):
    connection_hash = make_workspace(app, realtime_state="error")
    client = connect(app, connection_hash)
    assert frames(client) == [
        {
            "action": "error",
            "options": {},
            "payload": {
                "code": "realtime_disabled",
                "message": "Realtime is switched off for this workspace.",
            },
        }
    ]
    assert not client.is_connected("/rt")


@pytest.mark.parametrize("auth", [None, "hash", {"token": 5}])
def test_connect_without_a_usable_auth_is_an_invalid_hash(app, auth):
    make_workspace(app)
    client = flask_socketio.test_client(app, namespace="/rt", auth=auth)
    assert [frame["payload"]["code"] for frame in frames(client)] == ["invalid_hash"]
    assert not client.is_connected("/rt")


def test_odd_events_are_invalid_frames(app):
    client = connect(app, make_workspace(app))
    client.emit("rt", namespace="/rt")
    client.emit("rt", "text", namespace="/rt")
    client.emit("rt", {"action": "join"}, "extra", namespace="/rt")
    codes = [frame["payload"]["code"] for frame in frames(client)]
    assert codes == ["invalid_frame", "invalid_frame", "invalid_channel"]


def test_settings_come_from_the_database_once(app):
    connection_hash = make_workspace(app, frames_per_second=1)
    client = connect(app, connection_hash)
    with app.app_context():
        workspace = db.session.scalar(db.select(Workspace))
        workspace.frames_per_second = 1000
        db.session.commit()
    for _ in range(2):
        client.emit(
            "rt", {"action": "join", "options": {"channel": "chat"}}, namespace="/rt"
        )
    # Without a notification the engine keeps the settings it loaded.
    assert frames(client)[-1]["payload"]["code"] == "rate_limited"


def test_disconnect_leaves_channels(app):
    client = connect(app, make_workspace(app))
    client.emit(
        "rt", {"action": "join", "options": {"channel": "chat"}}, namespace="/rt"
    )
    engine = app.extensions["realtime"]
    with app.app_context():
        workspace_id = db.session.scalar(db.select(Workspace.id))
    assert engine.workspace_stats(workspace_id)["channels"] == {"chat": 1}
    client.disconnect("/rt")
    assert engine.workspace_stats(workspace_id) == {"connections": 0, "channels": {}}


def test_namespace_needs_a_server_that_connects_refused_clients_first(app):
    engine: Engine = app.extensions["realtime"]
    with pytest.raises(ValueError):
        init_socketio(engine, socketio.Server(async_mode="threading"))


def rt_namespace(app):
    """Return the app's ``/rt`` namespace handler."""
    return flask_socketio.server.namespace_handlers["/rt"]


def test_frames_arriving_while_a_client_is_admitted_run_after_it(app, monkeypatch):
    connection_hash = make_workspace(app)
    namespace = rt_namespace(app)
    admit = namespace.engine.connect

    # Long-polling can deliver a frame while the admission waits on Redis.
    def connect_while_a_frame_arrives(connection_hash, token, sink, sid):
        namespace.on_rt(sid, {"action": "join", "options": {"channel": "chat"}})
        return admit(connection_hash, token, sink, sid)

    monkeypatch.setattr(namespace.engine, "connect", connect_while_a_frame_arrives)
    client = connect(app, connection_hash)
    assert [frame["action"] for frame in frames(client)] == ["join"]


def test_client_leaving_while_it_is_admitted_is_not_counted(app, monkeypatch):
    connection_hash = make_workspace(app)
    namespace = rt_namespace(app)
    engine = namespace.engine
    admit = engine.connect

    def connect_while_the_client_leaves(connection_hash, token, sink, sid):
        connection = admit(connection_hash, token, sink, sid)
        namespace.on_disconnect(sid)
        return connection

    monkeypatch.setattr(engine, "connect", connect_while_the_client_leaves)
    connect(app, connection_hash)
    with app.app_context():
        workspace_id = db.session.scalar(db.select(Workspace.id))
    assert engine.workspace_stats(workspace_id)["connections"] == 0
