"""Builders, workspaces and realtime clients for the dashboard's tests.

Builders are made straight in the database and logged in through the session,
so these tests do not depend on the auth pages.
"""

from __future__ import annotations

import html

from flask import Flask, session
from flask_login import login_user

from webapp.extensions import db, socketio
from webapp.models import Builder, ChannelRule, Workspace

NAMESPACE = "/rt"


def log_in_new_builder(app, client, email: str) -> int:
    """Create a builder and log the client in as it, without the auth forms."""
    with app.app_context():
        # These builders never use the log-in form: a placeholder hash spares
        # a deliberately slow password hashing per test.
        builder = Builder(email=email, password_hash="not-a-password-hash")
        db.session.add(builder)
        db.session.commit()
        with app.test_request_context(environ_base=client.environ_base):
            login_user(builder)
            values = dict(session)
        builder_id = builder.id
    with client.session_transaction() as sess:
        sess.update(values)
    return builder_id


def make_workspace(app, owner_id: int, name: str = "Marvel", **values) -> int:
    """Create a workspace with a server API key; return its id."""
    with app.app_context():
        workspace = Workspace(owner_id=owner_id, name=name, **values)
        workspace.rotate_server_key()
        db.session.add(workspace)
        db.session.commit()
        return workspace.id


def load_workspace(app, workspace_id: int) -> Workspace | None:
    """Return the workspace as stored now (detached), None once deleted."""
    with app.app_context():
        return db.session.get(Workspace, workspace_id)


def update_workspace(app, workspace_id: int, **values) -> None:
    """Change the workspace's columns straight in the database."""
    with app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        for name, value in values.items():
            setattr(workspace, name, value)
        db.session.commit()


def page_text(response) -> str:
    """Return a page's HTML, entities decoded, each run of whitespace one space."""
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def ready_workspace_with_rule(app, workspace_id: int, channel: str = "room") -> str:
    """Switch the workspace's Realtime on, add a rule; return its connection hash."""
    update_workspace(app, workspace_id, realtime_enabled=True, realtime_state="ready")
    with app.app_context():
        db.session.add(ChannelRule(workspace_id=workspace_id, name=channel))
        db.session.commit()
    return load_workspace(app, workspace_id).connection_hash


def send_frame(sio, action: str, channel: str, payload=None) -> list[dict]:
    """Send one frame over /rt and return the frames received since the last call."""
    frame = {"action": action, "options": {"channel": channel}, "payload": payload}
    sio.emit("rt", frame, namespace=NAMESPACE)
    return [event["args"][0] for event in sio.get_received(NAMESPACE)]


def last_error_code(sio) -> str:
    """Return the code of the last error frame a client got, even a disconnected one."""
    # get_received() refuses a disconnected client; its queue still holds
    # what the server sent before the disconnect.
    frames = [event["args"][0] for event in sio.queue if event["name"] == "rt"]
    errors = [frame for frame in frames if frame["action"] == "error"]
    return errors[-1]["payload"]["code"]


class RealtimeClients:
    """Socket.IO test clients of the realtime namespace, closed together."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._clients: list = []

    def connect(self, connection_hash: str):
        """Connect one client with the connection hash; it must be admitted."""
        sio = socketio.test_client(
            self._app,
            namespace=NAMESPACE,
            auth={"hash": connection_hash, "token": None},
        )
        assert sio.is_connected(NAMESPACE)
        self._clients.append(sio)
        return sio

    def close(self) -> None:
        """Disconnect every client and stop the engine's background tasks."""
        for sio in self._clients:
            if sio.is_connected(NAMESPACE):
                sio.disconnect(NAMESPACE)
        self._app.extensions["realtime"].stop()
