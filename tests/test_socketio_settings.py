"""Live settings changes, limits, server-side events and two server processes.

Settings change through the real dashboard of the live server, the path a
builder takes; the server process then enforces them on its clients.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from tests.live import ServerProcess
from tests.test_socketio_rt import (
    BUILDER_PASSWORD,
    RULES,
    Live,
    RtClient,
    Seeded,
    code,
    open_clients,
    run_live,
)
from webapp.extensions import db
from webapp.models import ChannelRule

pytestmark = pytest.mark.live

_CSRF_RE = re.compile(r'name="(?:[\w-]*-)?csrf_token"[^>]*value="([^"]+)"')


class Dashboard:
    """A builder's browser session on the live server's dashboard."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar())
        )

    def _get(self, path: str) -> str:
        with self._opener.open(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def _post(self, page: str, path: str, fields: dict[str, str]) -> str:
        match = _CSRF_RE.search(self._get(page))
        assert match, f"no CSRF token on {page}"
        token = match.group(1)
        data = {"csrf_token": token, "hash-csrf_token": token, **fields}
        request = urllib.request.Request(
            self.base_url + path, data=urlencode(data).encode(), method="POST"
        )
        with self._opener.open(request, timeout=10) as response:
            assert response.status == 200
            return response.geturl()

    def login(self, email: str) -> None:
        fields = {"email": email, "password": BUILDER_PASSWORD}
        landed = self._post("/auth/login", "/auth/login", fields)
        assert "/auth/login" not in landed, "the builder could not log in"

    def post_realtime(self, workspace: Seeded, path: str = "", **fields: str) -> str:
        """Submit a form of the Realtime Settings page; return where it landed."""
        page = f"/workspaces/{workspace.id}/realtime"
        return self._post(page, page + path, fields)


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request, tmp_path_factory) -> Iterator[Live]:
    """One server process per backend for the whole module."""
    yield from run_live(request.param, tmp_path_factory)


@pytest.fixture
def connect(live) -> Iterator[Callable[..., RtClient]]:
    """Open clients to the live server; all are closed after the test."""
    yield from open_clients(live)


@pytest.fixture
def workspace(live) -> Seeded:
    return live.seeder.workspace(*RULES)


@pytest.fixture
def dashboard(live, workspace) -> Dashboard:
    dashboard = Dashboard(live.server.url)
    dashboard.login(workspace.builder_email)
    return dashboard


def test_switching_realtime_off_disconnects_clients(connect, workspace, dashboard):
    clients = [connect(workspace) for _ in range(2)]
    clients[0].join("chat")

    dashboard.post_realtime(workspace, enabled="no")

    for client in clients:
        assert code(client.next()) == "realtime_disabled"
        assert client.wait_disconnected()
    refused = connect(workspace)
    assert code(refused.next()) == "realtime_disabled"


def test_regenerated_hash_disconnects_clients_of_the_old_one(
    connect, workspace, dashboard
):
    client = connect(workspace)
    dashboard.post_realtime(workspace, "/hash", **{"hash-confirm": "y"})
    assert code(client.next()) == "invalid_hash"
    assert client.wait_disconnected()
    assert code(connect(workspace).next()) == "invalid_hash"


def test_deleted_rule_removes_its_members(live, connect, workspace, dashboard):
    with live.seeder.app.app_context():
        rule_id = db.session.scalar(
            select(ChannelRule.id).filter_by(workspace_id=workspace.id, name="chat")
        )
    member = connect(workspace)
    member.join("chat")

    dashboard.post_realtime(workspace, f"/rules/{rule_id}/delete")

    frame = member.next()
    assert code(frame) == "channel_not_allowed"
    assert frame["options"] == {"channel": "chat"}
    member.send("message", "chat", "x")
    assert code(member.next()) == "not_joined"
    assert member.join("readonly")["action"] == "join"


def test_frames_over_the_rate_are_refused(live, connect):
    limited = live.seeder.workspace(*RULES, frames_per_second=1)
    client = connect(limited)
    client.join("chat")
    for number in range(3):
        client.send("message", "chat", number)
    frames = [client.next() for _ in range(3)]
    errors = [frame for frame in frames if frame["action"] == "error"]
    assert errors and all(code(frame) == "rate_limited" for frame in errors)
    assert all(frame["payload"]["retry_after_ms"] > 0 for frame in errors)


def test_frame_size_limit(live, connect):
    limited = live.seeder.workspace(*RULES, max_frame_bytes=1000)
    client = connect(limited)
    client.join("chat")

    client.send("message", "chat", "x" * 1500)
    assert code(client.next()) == "payload_too_large"
    client.send("message", "chat", "fits")
    assert client.expect("message")["payload"] == "fits"

    client.send("message", "chat", "x" * 10_000)
    assert code(client.next()) == "payload_too_large"
    assert client.wait_disconnected()


def test_connection_limit_refuses_the_extra_client(live, connect):
    limited = live.seeder.workspace(*RULES, max_connections=2)
    connect(limited).join("chat")
    connect(limited).join("chat")
    extra = connect(limited)
    assert code(extra.next()) == "connection_limit"
    assert extra.wait_disconnected()


def test_server_side_event_reaches_socket_clients(live, connect, workspace):
    client = connect(workspace)
    client.join("chat")
    request = urllib.request.Request(
        f"{live.server.url}/api:{workspace.group_key}/realtime/event",
        data=json.dumps({"channel": "chat", "data": {"goal": 1}}).encode(),
        headers={
            "Authorization": f"Bearer {workspace.server_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())

    frame = client.expect("event")
    assert frame == answer
    assert frame["payload"] == {"data": {"goal": 1}} and frame["client"] is None


@pytest.fixture
def second_server(live):
    """Another server process on the same database and Redis."""
    env = {"REDIS_URL": live.server.env["REDIS_URL"]}
    server = ServerProcess(live.server.instance_path, env=env).start()
    yield server
    server.stop()


# Several processes share only through Redis: this test runs on it alone.
@pytest.mark.parametrize("live", ["redis"], indirect=True)
def test_two_processes_share_channels_presence_and_settings(
    live, connect, workspace, dashboard, second_server
):
    here = connect(workspace)
    there = RtClient(second_server.url, workspace.connection_hash)
    try:
        me = here.join("chat", presence=True)["client"]
        here.expect("presence_full")
        other = there.join("chat", presence=True)["client"]
        full = there.expect("presence_full")["payload"]["presence"]
        assert {client["socketId"] for client in full} == {
            me["socketId"],
            other["socketId"],
        }
        assert here.expect("presence_update")["payload"]["presence"] == other

        there.send("message", "chat", "across")
        assert here.expect("message")["payload"] == "across"
        assert there.expect("message")["payload"] == "across"
        here.send("message", "chat", "direct", socketId=other["socketId"])
        assert there.expect("message")["options"]["socketId"] == other["socketId"]

        dashboard.post_realtime(workspace, enabled="no")
        assert code(there.next()) == "realtime_disabled"
        assert there.wait_disconnected()
    finally:
        there.close()
