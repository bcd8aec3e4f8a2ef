"""The Socket.IO transport against a real server process (memory and Redis).

Each test module gets one ``python app.py`` server per backend; tests seed
workspaces of their own into its database and talk to it with python-socketio's
client. Frames to one client arrive in order, so :meth:`RtClient.drain` proves
that nothing else was sent by asking a question and collecting what came first.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engineio
import pytest
import redis
import requests
import socketio
from werkzeug.security import generate_password_hash

from tests.live import ServerProcess
from tests.services import require_service
from webapp import create_app
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace
from webapp.tokens import issue_token

pytestmark = pytest.mark.live

LIVE_SECRET_KEY = "live-test-secret"  # what tests/live.py gives the server
LIVE_REDIS_URL = "redis://127.0.0.1:6379/13"
BUILDER_PASSWORD = "correct horse battery"
# Generous bound on waiting for a frame; never a speed check.
WAIT_SECONDS = 10
PROBE_CHANNEL = "zz-probe"
_numbers = itertools.count(1)


@dataclass
class Seeded:
    """A workspace written into the live server's database."""

    id: int
    connection_hash: str
    builder_email: str
    group_key: str
    server_key: str


class Seeder:
    """Writes builders and workspaces into a live server's SQLite database."""

    def __init__(self, instance_path: Path) -> None:
        database = instance_path / "webapp.sqlite"
        self.app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": LIVE_SECRET_KEY,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                "ASYNC_MODE": "threading",
                "LOG_LEVEL": "WARNING",
            }
        )
        # The server ran its migrations at start-up; without migration scripts
        # that made nothing, and create_all() makes the tables (a no-op else).
        with self.app.app_context():
            db.create_all()
        # Hashing is slow on purpose: once for every builder of the run.
        self._password_hash = generate_password_hash(BUILDER_PASSWORD)

    def workspace(self, *rules: dict[str, Any], **fields: Any) -> Seeded:
        """Create a builder's workspace, Realtime ready unless ``fields`` say."""
        number = next(_numbers)
        fields = {"realtime_enabled": True, "realtime_state": "ready", **fields}
        with self.app.app_context():
            builder = Builder(
                email=f"builder{number}@example.com",
                password_hash=self._password_hash,
            )
            workspace = Workspace(owner=builder, name=f"Live {number}", **fields)
            workspace.channel_rules = [ChannelRule(**rule) for rule in rules]
            key = workspace.rotate_server_key()
            db.session.add(workspace)
            db.session.commit()
            return Seeded(
                workspace.id,
                workspace.connection_hash,
                builder.email,
                workspace.api_group_key,
                key,
            )

    def token(self, workspace: Seeded, end_user_id: int, name: str) -> str:
        """Return an auth token of an end user of the workspace."""
        return issue_token(LIVE_SECRET_KEY, workspace.id, end_user_id, name, 3600)

    def close(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


class _InOrderEngineIO(engineio.Client):
    """Run message handlers on the reading thread, so frames queue in order.

    python-engineio's client otherwise runs each message's handler in a
    thread of its own, which can queue two frames in the other order.
    """

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderSocketIO(socketio.Client):
    """A python-socketio client whose handlers see frames in arrival order."""

    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIO


class RtClient:
    """A python-socketio client of the ``/rt`` namespace, recording frames."""

    def __init__(self, url: str, connection_hash: str, token: Any = None):
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.disconnected = threading.Event()
        self.sio = InOrderSocketIO(reconnection=False)
        self.sio.on("rt", self.frames.put, namespace="/rt")
        self.sio.on("disconnect", self._on_disconnect, namespace="/rt")
        self.sio.connect(
            url,
            namespaces=["/rt"],
            auth={"hash": connection_hash, "token": token},
            transports=["websocket"],
            wait_timeout=WAIT_SECONDS,
        )

    def _on_disconnect(self, *reason: Any) -> None:
        self.disconnected.set()

    def send(self, action: str, channel: str, payload: Any = None, **options) -> None:
        frame = {"action": action, "options": {"channel": channel, **options}}
        self.sio.emit("rt", {**frame, "payload": payload}, namespace="/rt")

    def next(self) -> dict[str, Any]:
        try:
            return self.frames.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            pytest.fail("no frame arrived")

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
        self.send("history", PROBE_CHANNEL)
        frames = []
        while True:
            frame = self.next()
            if frame["action"] == "error" and frame["options"] == {
                "channel": PROBE_CHANNEL
            }:
                return frames
            frames.append(frame)

    def wait_disconnected(self) -> bool:
        return self.disconnected.wait(WAIT_SECONDS)

    def close(self) -> None:
        self.sio.disconnect()


@dataclass
class Live:
    """A running server and a way to seed its database."""

    server: ServerProcess
    seeder: Seeder


def _redis_available(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


def server_env(backend: str) -> dict[str, str]:
    """Return the environment selecting ``backend`` (Redis flushed first)."""
    if backend == "memory":
        return {}
    require_service(_redis_available(LIVE_REDIS_URL), "Redis is not reachable")
    redis.Redis.from_url(LIVE_REDIS_URL).flushdb()
    return {"REDIS_URL": LIVE_REDIS_URL}


def run_live(backend: str, tmp_path_factory) -> Iterator[Live]:
    """Run one server process with ``backend`` until the generator closes."""
    env = server_env(backend)
    instance = tmp_path_factory.mktemp(backend) / "instance"
    server = ServerProcess(instance, env=env).start()
    seeder = Seeder(instance)
    yield Live(server, seeder)
    seeder.close()
    server.stop()


def open_clients(live: Live) -> Iterator[Callable[..., RtClient]]:
    """Yield a function opening clients to the live server; then close them."""
    opened: list[RtClient] = []

    def open_client(workspace: Seeded, token: str | None = None) -> RtClient:
        client = RtClient(live.server.url, workspace.connection_hash, token)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request, tmp_path_factory) -> Iterator[Live]:
    """One server process per backend for the whole module."""
    yield from run_live(request.param, tmp_path_factory)


@pytest.fixture
def connect(live) -> Iterator[Callable[..., RtClient]]:
    """Open clients to the live server; all are closed after the test."""
    yield from open_clients(live)


RULES = (
    {"name": "chat", "presence": True, "history_size": 10, "direct": "any"},
    {"name": "members", "anonymous_allowed": False},
    {"name": "readonly", "publish": "off"},
    {"name": "vip", "receive": "authenticated", "history_size": 5},
)


@pytest.fixture
def workspace(live) -> Seeded:
    return live.seeder.workspace(*RULES)


def code(frame: dict[str, Any]) -> str:
    assert frame["action"] == "error", frame
    return frame["payload"]["code"]


def test_client_learns_its_socket_id_from_its_join(connect, workspace):
    joined = connect(workspace).join("chat")
    assert joined["options"] == {"channel": "chat"}
    assert joined["payload"] == {"presence": False, "history": False}
    assert joined["client"]["socketId"]
    assert joined["client"]["authenticated"] is False


def test_authenticated_client_carries_its_end_user(live, connect, workspace):
    token = live.seeder.token(workspace, 42, "Ann")
    joined = connect(workspace, token).join("members")
    assert joined["client"]["extras"] == {"id": 42, "name": "Ann"}
    assert joined["client"]["permissions"] == {"dbo_id": workspace.id, "row_id": 42}


def test_unknown_hash_gets_an_error_frame_then_a_disconnect(live, connect):
    client = connect(Seeded(0, "no-such-hash", "", "", ""))
    assert code(client.next()) == "invalid_hash"
    assert client.wait_disconnected()


def test_disabled_workspace_gets_an_error_frame_then_a_disconnect(live, connect):
    disabled = live.seeder.workspace(*RULES, realtime_enabled=False)
    client = connect(disabled)
    assert code(client.next()) == "realtime_disabled"
    assert client.wait_disconnected()


def test_bad_token_gets_an_error_frame_then_a_disconnect(live, connect, workspace):
    other = live.seeder.workspace(*RULES)
    client = connect(workspace, live.seeder.token(other, 1, "Elsewhere"))
    assert code(client.next()) == "invalid_token"
    assert client.wait_disconnected()


def test_join_with_presence_lists_members_and_tells_the_others(connect, workspace):
    first, second = connect(workspace), connect(workspace)
    me = first.join("chat", presence=True)["client"]
    assert first.expect("presence_full")["payload"] == {"presence": [me]}

    other = second.join("chat", presence=True)["client"]

    full = second.expect("presence_full")["payload"]["presence"]
    assert sorted(c["socketId"] for c in full) == sorted(
        [me["socketId"], other["socketId"]]
    )
    update = first.expect("presence_update")
    assert update["payload"] == {"action": "join", "presence": other}


def test_messages_reach_every_member_sender_included(connect, workspace):
    members = [connect(workspace) for _ in range(3)]
    for member in members:
        member.join("chat")

    members[0].send("message", "chat", {"text": "hello"})

    for member in members:
        frame = member.expect("message")
        assert frame["payload"] == {"text": "hello"}
        assert frame["options"] == {"channel": "chat", "authenticated": False, "id": 1}
    members[1].send("message", "chat", "second")
    assert [member.expect("message")["payload"] for member in members] == ["second"] * 3


def test_history_follows_the_join_frame(connect, workspace):
    writer = connect(workspace)
    writer.join("chat")
    writer.send("message", "chat", "kept")
    writer.expect("message")

    reader = connect(workspace)
    joined = reader.join("chat", history=True)

    assert joined["payload"]["history"] is True
    (entry,) = reader.expect("history")["payload"]["history"]
    assert (entry["id"], entry["payload"], entry["action"]) == (1, "kept", "message")


def test_direct_message_reaches_only_its_target(connect, workspace):
    sender, target, bystander = (connect(workspace) for _ in range(3))
    sender.join("chat")
    target_id = target.join("chat")["client"]["socketId"]
    bystander.join("chat")

    sender.send("message", "chat", "psst", socketId=target_id)

    frame = target.expect("message")
    assert frame["options"]["socketId"] == target_id
    assert frame["payload"] == "psst"
    assert sender.drain() == [] and bystander.drain() == []


def test_authenticated_messages_skip_anonymous_members(live, connect, workspace):
    member = connect(workspace, live.seeder.token(workspace, 1, "Ann"))
    anonymous = connect(workspace)
    member.join("chat")
    anonymous.join("chat")

    anonymous.send("message", "chat", "members only", authenticated=True)

    assert member.expect("message")["options"]["authenticated"] is True
    assert anonymous.drain() == []


def test_receive_authenticated_channel_skips_anonymous_members(
    live, connect, workspace
):
    member = connect(workspace, live.seeder.token(workspace, 1, "Ann"))
    anonymous = connect(workspace)
    member.join("vip")
    anonymous.join("vip")
    member.send("message", "vip", "hi")
    assert member.expect("message")["payload"] == "hi"
    assert anonymous.drain() == []


def test_rejoin_with_since_after_reconnect_gets_what_was_missed(connect, workspace):
    writer, reader = connect(workspace), connect(workspace)
    writer.join("chat")
    reader.join("chat")
    writer.send("message", "chat", "seen")
    last_seen = reader.expect("message")["options"]["id"]
    reader.close()
    for text in ("missed 1", "missed 2"):
        writer.send("message", "chat", text)
    writer.expect("message")
    writer.expect("message")

    again = connect(workspace)
    again.join("chat", since=last_seen)

    missed = [again.expect("message"), again.expect("message")]
    assert [frame["payload"] for frame in missed] == ["missed 1", "missed 2"]
    assert [frame["options"]["id"] for frame in missed] == [2, 3]


@pytest.mark.parametrize("how", ["leave", "disconnect"])
def test_leaving_is_announced_to_presence_members(connect, workspace, how):
    watcher, leaver = connect(workspace), connect(workspace)
    watcher.join("chat", presence=True)
    watcher.expect("presence_full")
    client = leaver.join("chat", presence=True)["client"]
    leaver.expect("presence_full")
    watcher.expect("presence_update")

    if how == "leave":
        leaver.send("leave", "chat")
        assert leaver.expect("leave")["payload"] == {}
    else:
        leaver.close()

    update = watcher.expect("presence_update")
    assert update["payload"] == {"action": "leave", "presence": client}


@pytest.mark.parametrize(
    ("channel", "action", "expected"),
    [
        ("elsewhere", "join", "channel_not_allowed"),
        ("members", "join", "auth_required"),
        ("chat", "message", "not_joined"),
        ("bad channel", "join", "invalid_channel"),
    ],
)
def test_rules_deny_with_an_error_frame(connect, workspace, channel, action, expected):
    client = connect(workspace)
    client.send(action, channel)
    assert code(client.next()) == expected
    assert client.join("chat")["action"] == "join"


def test_publish_off_channel_refuses_messages(connect, workspace):
    client = connect(workspace)
    client.join("readonly")
    client.send("message", "readonly", "x")
    frame = client.next()
    assert code(frame) == "publish_not_allowed"
    assert frame["options"] == {"channel": "readonly"}


def test_invalid_frame_keeps_the_connection_open(connect, workspace):
    client = connect(workspace)
    client.sio.emit("rt", "not a frame", namespace="/rt")
    assert code(client.next()) == "invalid_frame"
    client.sio.emit("rt", {"action": "fly", "options": {}}, namespace="/rt")
    assert code(client.next()) == "invalid_frame"
    assert client.join("chat")["action"] == "join"


def test_clients_from_other_origins_are_accepted(live):
    url = live.server.url + "/socket.io/?EIO=4&transport=polling"
    headers = {"Origin": "https://builder-app.example"}

    with requests.get(url, headers=headers, timeout=WAIT_SECONDS) as response:
        status = response.status_code
        allowed = response.headers.get("Access-Control-Allow-Origin")

    assert status == 200
    assert allowed in ("*", "https://builder-app.example")
