"""Several server processes on one Redis behave as one server.

Each process runs the Procfile's web command (gunicorn with one eventlet
worker; the worker class follows ``TEST_ASYNC_MODE``) on a port of its own,
all on one SQLite database and on a redis-server of this module's own, which
one test stops and starts again. Clients of both transports talk to different
processes and must see what the others do exactly once.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.live import ROOT, ServerProcess, free_port
from tests.test_backends import OwnRedis, own_redis_server
from tests.test_socketio_rt import RtClient, Seeded, Seeder, code
from tests.test_socketio_settings import Dashboard
from tests.ws_client import WsTestClient
from webapp.backends.redis_registry import PROCESS_TTL_SECONDS

pytestmark = pytest.mark.live

# docs/deploy.md: a process killed without warning leaves presence within this.
KILL_BOUND_SECONDS = PROCESS_TTL_SECONDS + 1
# Room for a loaded machine: start-up of the watcher's frame path, scheduling.
SLACK_SECONDS = 4
WAIT_SECONDS = 10
RULES = (
    {"name": "chat", "presence": True, "history_size": 20, "direct": "any"},
    {"name": "news", "history_size": 5},
)
Client = RtClient | WsTestClient


def web_command(port: int) -> list[str]:
    """Return the Procfile's web command for ``port``, in the async mode tested."""
    mode = os.environ.get("TEST_ASYNC_MODE", "").strip() or "eventlet"
    if mode == "threading":
        # gunicorn has no worker for Flask-SocketIO's threading mode.
        return [sys.executable, "app.py"]
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            command = line.split(":", 1)[1].replace("$PORT", str(port))
            break
    # Switching the async mode is this one change of the Procfile's line.
    command = command.replace("--worker-class eventlet", f"--worker-class {mode}")
    argv = shlex.split(command)
    argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv


@dataclass
class Cluster:
    """Server processes sharing a database and a Redis."""

    redis: OwnRedis
    instance: Path
    servers: list[ServerProcess] = field(default_factory=list)
    seeder: Seeder | None = None

    def start_server(self) -> ServerProcess:
        port = free_port()
        env = {
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{self.instance / 'webapp.sqlite'}",
            "LOG_LEVEL": "INFO",
        }
        server = ServerProcess(
            self.instance, env=env, command=web_command(port), port=port, own_group=True
        )
        self.servers.append(server)
        return server.start(timeout=60)

    def workspace(self, *rules: dict[str, Any], **fields: Any) -> Seeded:
        assert self.seeder is not None
        return self.seeder.workspace(*(rules or RULES), **fields)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Two processes for the whole module; tests may start more."""
    redis_server = next(own_redis_server())
    cluster = Cluster(redis_server, tmp_path_factory.mktemp("cluster") / "instance")
    try:
        # One after the other: `python app.py` (threading) migrates at start-up.
        cluster.start_server()
        cluster.start_server()
        cluster.seeder = Seeder(cluster.instance)
        yield cluster
    finally:
        if cluster.seeder is not None:
            cluster.seeder.close()
        for server in cluster.servers:
            server.stop()
        redis_server.stop()


@pytest.fixture
def servers(cluster) -> tuple[ServerProcess, ServerProcess]:
    return cluster.servers[0], cluster.servers[1]


@pytest.fixture
def connect() -> Iterator[Callable[..., Client]]:
    """Open clients: ``connect(server, workspace, "sio" or "ws")``."""
    opened: list[Client] = []

    def open_client(
        server: ServerProcess, workspace: Seeded, transport: str = "sio"
    ) -> Client:
        kind = RtClient if transport == "sio" else WsTestClient
        client = kind(server.url, workspace.connection_hash)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def payloads_until(client: Client, last: Any) -> list[Any]:
    """Return the payloads of the messages a client gets, up to ``last``."""
    seen = []
    while not seen or seen[-1] != last:
        frame = client.next()
        if frame["action"] == "message":
            seen.append(frame["payload"])
    return seen


def joined(client: Client, channel: str = "chat", **payload: Any) -> dict[str, Any]:
    """Join; return the client object (and consume presence_full when asked)."""
    me = client.join(channel, **payload)["client"]
    if payload.get("presence"):
        client.expect("presence_full")
    return me


def settle(clients: list[Client]) -> None:
    """Let what the bus carried before reach the clients, and skip it.

    A client that joins on one process can still hear of a join made on
    another just before its own (the presence race docs/deploy.md states):
    a message sent now follows all of that on the bus.
    """
    clients[0].send("message", "chat", "settled")
    for client in clients:
        while client.next().get("payload") != "settled":
            pass


def publish_event(server: ServerProcess, workspace: Seeded, data: Any) -> int:
    request = urllib.request.Request(
        f"{server.url}/api:{workspace.group_key}/realtime/event",
        data=json.dumps({"channel": "chat", "data": data}).encode(),
        headers={
            "Authorization": f"Bearer {workspace.server_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def status_of(url: str) -> tuple[int, dict[str, Any] | str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        body = error.read().decode()
        status = error.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


@pytest.fixture
def workspace(cluster) -> Seeded:
    return cluster.workspace()


def test_messages_reach_every_process_once_over_both_transports(
    servers, connect, workspace
):
    clients = [
        connect(server, workspace, transport)
        for server in servers
        for transport in ("sio", "ws")
    ]
    for client in clients:
        joined(client)

    for number, client in enumerate(clients):
        client.send("message", "chat", number)
    for client in clients:
        got = sorted(client.expect("message")["payload"] for _ in clients)
        assert got == list(range(len(clients)))
    clients[0].send("message", "chat", "end")

    for client in clients:
        # Nothing arrived twice: the next message after the four is "end".
        assert payloads_until(client, "end") == ["end"]


def test_direct_messages_and_events_cross_processes(servers, connect, workspace):
    here, there = servers
    sender = connect(here, workspace, "sio")
    target = connect(there, workspace, "ws")
    listener = connect(here, workspace, "ws")
    joined(sender)
    target_id = joined(target)["socketId"]
    joined(listener)

    sender.send("message", "chat", "psst", socketId=target_id)
    direct = target.expect("message")
    assert (direct["payload"], direct["options"]["socketId"]) == ("psst", target_id)
    assert publish_event(there, workspace, {"goal": 1}) == 200

    for client in (sender, target, listener):
        event = client.expect("event")
        assert event["payload"] == {"data": {"goal": 1}}
    sender.send("message", "chat", "end")
    for client in (sender, target, listener):
        assert payloads_until(client, "end") == ["end"]


def test_presence_spans_processes(servers, connect, workspace):
    here, there = servers
    first = connect(here, workspace, "sio")
    second = connect(there, workspace, "ws")
    me = first.join("chat", presence=True)["client"]
    first.expect("presence_full")

    other = second.join("chat", presence=True)["client"]
    full = second.expect("presence_full")["payload"]["presence"]

    assert full == [me, other]
    assert first.expect("presence_update")["payload"] == {
        "action": "join",
        "presence": other,
    }
    second.close()
    assert first.expect("presence_update")["payload"] == {
        "action": "leave",
        "presence": other,
    }


def test_connection_limit_counts_every_process(cluster, servers, connect):
    here, there = servers
    limited = cluster.workspace(max_connections=2)
    joined(connect(here, limited, "sio"))
    joined(connect(there, limited, "ws"))

    refused = connect(there, limited, "ws")
    assert code(refused.next()) == "connection_limit"
    assert refused.wait_disconnected()
    assert refused.close_code == 1013
    assert code(connect(here, limited, "sio").next()) == "connection_limit"


def test_rejoin_with_since_on_the_other_process_gets_what_was_missed(
    servers, connect, workspace
):
    here, there = servers
    writer = connect(there, workspace, "sio")
    reader = connect(here, workspace, "ws")
    joined(writer)
    joined(reader)
    writer.send("message", "chat", "seen")
    last_seen = reader.expect("message")["options"]["id"]
    reader.close()
    for text in ("missed 1", "missed 2"):
        writer.send("message", "chat", text)
    assert payloads_until(writer, "missed 2") == ["seen", "missed 1", "missed 2"]

    again = connect(there, workspace, "ws")
    again.join("chat", since=last_seen)
    missed = [again.next(), again.next()]
    writer.send("message", "chat", "live")

    assert [frame["payload"] for frame in missed] == ["missed 1", "missed 2"]
    assert [frame["options"]["id"] for frame in missed] == [
        last_seen + 1,
        last_seen + 2,
    ]
    assert payloads_until(again, "live") == ["live"]


@pytest.fixture
def dashboard_on(servers) -> Callable[[Seeded], Dashboard]:
    """Log the workspace's builder in to the first process's dashboard."""

    def log_in(workspace: Seeded) -> Dashboard:
        dashboard = Dashboard(servers[0].url)
        dashboard.login(workspace.builder_email)
        return dashboard

    return log_in


def test_realtime_off_on_one_process_closes_clients_of_the_other(
    servers, connect, workspace, dashboard_on
):
    clients = [connect(servers[1], workspace, kind) for kind in ("sio", "ws")]
    for client in clients:
        joined(client)

    dashboard_on(workspace).post_realtime(workspace, enabled="no")

    for client in clients:
        assert code(client.next()) == "realtime_disabled"
        assert client.wait_disconnected()
    assert clients[1].close_code == 1008


def test_new_hash_on_one_process_closes_old_clients_of_the_other(
    servers, connect, workspace, dashboard_on
):
    client = connect(servers[1], workspace, "ws")
    dashboard_on(workspace).post_realtime(workspace, "/hash", **{"hash-confirm": "y"})
    assert code(client.next()) == "invalid_hash"
    assert client.wait_disconnected()
    assert client.close_code == 1008


def test_deleted_rule_on_one_process_removes_members_on_the_other(
    cluster, servers, connect, workspace, dashboard_on
):
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import ChannelRule

    member = connect(servers[1], workspace, "sio")
    joined(member)
    with cluster.seeder.app.app_context():
        rule_id = db.session.scalar(
            select(ChannelRule.id).filter_by(workspace_id=workspace.id, name="chat")
        )

    dashboard_on(workspace).post_realtime(workspace, f"/rules/{rule_id}/delete")

    frame = member.next()
    assert (code(frame), frame["options"]) == (
        "channel_not_allowed",
        {"channel": "chat"},
    )
    member.send("message", "chat", "x")
    assert code(member.next()) == "not_joined"


def _next_within(client: Client, seconds: float) -> dict[str, Any]:
    try:
        return client.frames.get(timeout=seconds)
    except queue.Empty:
        pytest.fail(f"no frame within {seconds}s")


def test_killed_process_members_leave_everywhere_within_the_bound(
    cluster, servers, connect
):
    here, there = servers
    limited = cluster.workspace(max_connections=4)
    watchers = [connect(here, limited, "sio"), connect(there, limited, "ws")]
    for watcher in watchers:
        joined(watcher, presence=True)
    settle(watchers)
    doomed = cluster.start_server()
    victims = [connect(doomed, limited, kind) for kind in ("sio", "ws")]
    gone = [joined(victim, presence=True) for victim in victims]
    for watcher in watchers:
        updates = [watcher.expect("presence_update")["payload"] for _ in gone]
        assert [u["presence"] for u in updates] == gone
    assert code(connect(here, limited, "ws").next()) == "connection_limit"

    doomed.kill()
    killed_at = time.monotonic()

    for watcher in watchers:
        bound = KILL_BOUND_SECONDS + SLACK_SECONDS
        leaves = [_next_within(watcher, bound + 2) for _ in gone]
        elapsed = time.monotonic() - killed_at
        assert elapsed <= bound, f"leaves took {elapsed:.1f}s"
        assert sorted(f["payload"]["presence"]["socketId"] for f in leaves) == sorted(
            client["socketId"] for client in gone
        )
        assert {f["payload"]["action"] for f in leaves} == {"leave"}
    # The dead process's connections no longer count: two fit again.
    joined(connect(here, limited, "ws"))
    joined(connect(there, limited, "sio"))
    watchers[0].send("message", "chat", "after")
    for watcher in watchers:
        # Each leave came once: the next frame is this message.
        assert watcher.expect("message")["payload"] == "after"


def _error_lines(server: ServerProcess, logger_name: str) -> list[str]:
    return [
        line for line in server.log().splitlines() if f" ERROR {logger_name}:" in line
    ]


def _wait_healthy(server: ServerProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status, body = status_of(server.url + "/healthz")
        if status == 200:
            return body
        assert time.monotonic() < deadline, f"never healthy again: {body}"
        time.sleep(0.2)


def test_redis_outage_degrades_then_recovers_without_restart(
    cluster, servers, connect, dashboard_on
):
    here, there = servers
    workspace, switched = cluster.workspace(), cluster.workspace()
    first, second = connect(here, workspace, "sio"), connect(there, workspace, "ws")
    joined(first, presence=True)
    joined(second, presence=True)
    first.expect("presence_update")
    bystander = connect(there, switched, "sio")
    dashboard = dashboard_on(switched)

    cluster.redis.stop()

    for _ in range(5):
        first.send("message", "chat", "lost")
        assert code(first.next()) == "unavailable"
    assert status_of(here.url + "/auth/login")[0] == 200
    assert publish_event(there, workspace, "x") == 503
    refused = connect(there, workspace, "ws")
    assert code(refused.next()) == "unavailable"
    assert refused.wait_disconnected()
    assert refused.close_code == 1011
    status, health = status_of(here.url + "/healthz")
    assert status == 503
    assert health["realtime_backend"].startswith("unavailable")
    assert health["realtime_bus"].startswith("unavailable")
    # Off while Redis is away: the other process cannot hear of it now.
    dashboard.post_realtime(switched, enabled="no")

    cluster.redis.start()

    for server in servers:
        assert _wait_healthy(server)["realtime_bus"] == "ok"
    # Settings missed while deaf are reloaded once the bus is heard again.
    assert code(bystander.next()) == "realtime_disabled"
    # Redis came back empty: each process recorded its members again.
    members = redis.Redis.from_url(cluster.redis.url)
    deadline = time.monotonic() + WAIT_SECONDS
    while members.hlen(f"rt:{workspace.id}:m:chat") < 2:
        assert time.monotonic() < deadline, "members were not recorded again"
        time.sleep(0.1)
    newcomer = connect(here, workspace, "ws")
    newcomer.join("chat", presence=True)
    full = newcomer.expect("presence_full")["payload"]["presence"]
    assert len(full) == 3
    second.send("message", "chat", "back")
    assert payloads_until(first, "back") == ["back"]
    assert payloads_until(newcomer, "back") == ["back"]
    for server in servers:
        # Said once, however many frames failed.
        assert len(_error_lines(server, "webapp.backends.redis")) <= 1
        assert len(_error_lines(server, "webapp.backends.redis_listener")) <= 1
    assert len(_error_lines(here, "webapp.backends.redis")) == 1
