"""Restarting the server under traffic: clients are told, come back, lose nothing.

A publisher keeps sending numbered events over HTTP while the server process
gets SIGTERM and a new one starts on the same port, both on a Redis of the
test's own (history must outlive the process). The server closes plain
WebSocket clients with 1012 and drops Socket.IO transports without a Socket.IO
disconnect; a Python client behaving like the hosted SDK and our JavaScript
SDK in a browser reconnect by themselves, resume with ``since`` and end with
every stored event exactly once, in order.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.harness import Harness
from tests.live import ServerProcess, free_port
from tests.raw_clients import RawSocketIO
from tests.test_redis_persistence import PERSISTENT, RedisServer, redis_server
from tests.test_socketio_rt import Seeded, Seeder
from tests.ws_client import WsTestClient
from webapp.backends.base import Done
from webapp.backends.memory import MemoryBackend
from webapp.realtime.errors import RestartingError
from webapp.realtime.rules import ChannelRule
from webapp.realtime.sink import Audience
from webapp.transports.shutdown import _drained

pytestmark = pytest.mark.live

CHANNEL = "ticker"
WAIT_SECONDS = 30
# The close codes after which the hosted SDK reconnects (1006: no close frame).
RECONNECT_CODES = {1006, 1011, 1012, 1013, 1014, 4000}
RECONNECT_DELAY = 0.3
BIN = Path(sys.executable).parent


class ResumingClient:
    """A plain WebSocket client that comes back after a restart, as the hosted SDK.

    It reconnects after the close codes the hosted SDK reconnects after, joins
    again with ``since`` set to the last id it saw, and, like our SDK, drops an
    entry delivered twice (see ``Rooms.join``); ``repeats`` counts those.
    """

    def __init__(self, base_url: str, connection_hash: str) -> None:
        self.url = base_url.replace("http://", "ws://", 1) + "/rt/" + connection_hash
        self.entries: list[tuple[int, Any]] = []
        self.close_codes: list[int] = []
        self.repeats = 0
        self.joins = 0
        self.last_id: int | None = None
        self._stopped = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._ws = websocket.create_connection(self.url, timeout=5)
            except (OSError, websocket.WebSocketException):
                time.sleep(RECONNECT_DELAY)
                continue
            payload = {} if self.last_id is None else {"since": self.last_id}
            frame = {"action": "join", "options": {"channel": CHANNEL}}
            self._ws.send(json.dumps({**frame, "payload": payload}))
            code = self._read(self._ws)
            # close() leaves the socket open once the server has closed.
            self._ws.shutdown()
            self.close_codes.append(code)
            if code not in RECONNECT_CODES:
                return
            time.sleep(RECONNECT_DELAY)

    def _read(self, ws: websocket.WebSocket) -> int:
        ws.settimeout(None)
        seen = set()
        try:
            while True:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._receive(json.loads(data), seen)
        except (OSError, websocket.WebSocketException):
            return 1006

    def _receive(self, frame: dict[str, Any], seen: set[int]) -> None:
        if frame["action"] == "join":
            self.joins += 1
        if frame["action"] != "event":
            return
        id = frame["options"]["id"]
        if id in seen:
            self.repeats += 1
            return
        seen.add(id)
        self.entries.append((id, frame["payload"]["data"]))
        self.last_id = id if self.last_id is None else max(self.last_id, id)

    def close(self) -> None:
        self._stopped.set()
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass
        self._thread.join(WAIT_SECONDS)


class Publisher:
    """Posts numbered events until told to stop, retrying each until it is stored."""

    def __init__(self, base_url: str, workspace: Seeded) -> None:
        self.url = f"{base_url}/api:{workspace.group_key}/realtime/event"
        self.key = workspace.server_key
        self.sent = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._post({"channel": CHANNEL, "data": {"n": self.sent}}):
                self.sent += 1
            else:
                self.failures += 1
            time.sleep(0.02)

    def _post(self, body: dict[str, Any]) -> bool:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.key}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while self.sent < count:
            assert time.monotonic() < deadline, "the publisher is stuck"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_SECONDS)


class Restartable:
    """A server command that can be stopped and started again on its port."""

    def __init__(self, instance: Path, env: dict[str, str], gunicorn: bool) -> None:
        self.instance = instance
        self.env = env
        self.port = free_port()
        self.gunicorn = gunicorn
        self.server = self._new()

    def _new(self) -> ServerProcess:
        command = None
        if self.gunicorn:
            # The Procfile's web command, on a loopback port.
            command = [
                str(BIN / "gunicorn"),
                "--worker-class",
                "eventlet",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{self.port}",
                "app:app",
            ]
        return ServerProcess(
            self.instance, env=self.env, command=command, port=self.port
        )

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        """SIGTERM the process, wait for it to end, start a new one."""
        self.server.stop()
        self.server = self._new().start()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    yield from redis_server(tmp_path / "redis", PERSISTENT)


def _serve(
    tmp_path: Path, redis_url: str, gunicorn: bool
) -> tuple[Restartable, Seeded]:
    instance = tmp_path / "instance"
    database_url = f"sqlite:///{instance / 'webapp.sqlite'}"
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    if gunicorn:
        # The Procfile's worker class decides: the app must patch for it.
        env["ASYNC_MODE"] = "eventlet"
    server = Restartable(instance, env, gunicorn)
    # python app.py migrates the database as it starts: seeding comes after.
    server.server.start()
    seeder = Seeder(instance)
    workspace = seeder.workspace({"name": CHANNEL, "history_size": 1000})
    seeder.close()
    return server, workspace


@pytest.fixture
def app_server(tmp_path, own_redis) -> Iterator[tuple[Restartable, Seeded]]:
    """``python app.py`` on Redis, restartable on its port."""
    server, workspace = _serve(tmp_path, own_redis.url, gunicorn=False)
    yield server, workspace
    server.server.stop()


@pytest.fixture
def gunicorn_server(tmp_path, own_redis) -> Iterator[tuple[Restartable, Seeded]]:
    """The Procfile's gunicorn command on Redis, restartable on its port."""
    server, workspace = _serve(tmp_path, own_redis.url, gunicorn=True)
    yield server, workspace
    server.server.stop()


def stored_entries(url: str, workspace: Seeded) -> list[tuple[int, Any]]:
    """Return the channel's history as (id, data) pairs."""
    client = WsTestClient(url, workspace.connection_hash)
    client.join(CHANNEL, history=True)
    entries = client.expect("history")["payload"]["history"]
    client.close()
    return [(entry["id"], entry["payload"]["data"]) for entry in entries]


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def restart_under_traffic(
    server: Restartable, workspace: Seeded
) -> list[tuple[int, Any]]:
    """Publish, restart while publishing, publish more; return what was stored."""
    publisher = Publisher(server.url, workspace)
    try:
        publisher.wait_for(30)
        server.restart()
        publisher.wait_for(publisher.sent + 30)
    finally:
        publisher.stop()
    stored = stored_entries(server.url, workspace)
    assert [data["n"] for _, data in stored][-1] == publisher.sent - 1
    assert publisher.failures > 0, "no event was refused: did the restart happen?"
    return stored


SDK_PAGE_SCRIPT = """
([hash, origin]) => {
  window.__entries = [];
  window.__statuses = [];
  const client = new Realtime.Client({
    instanceBaseUrl: origin,
    realtimeConnectionHash: hash,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  });
  client.on("connection_status", (payload) => {
    window.__statuses.push(payload.status);
  });
  const channel = client.channel(CHANNEL);
  channel.on("join", () => { window.__joins = (window.__joins || 0) + 1; });
  channel.on("event", (frame) => {
    window.__entries.push([frame.options.id, frame.payload.data]);
  });
}
""".replace("CHANNEL", json.dumps(CHANNEL))


def open_sdk_page(browser_page, server: Restartable, workspace: Seeded):
    """Open a page of the server running our SDK in the channel; wait for its join."""
    watched = browser_page(server.url + "/demo/")
    watched.page.evaluate(SDK_PAGE_SCRIPT, [workspace.connection_hash, server.url])
    wait_until(
        lambda: watched.page.evaluate("window.__joins || 0") > 0,
        "the SDK did not join",
    )
    return watched


def page_entries(watched) -> list[tuple[int, Any]]:
    return [tuple(entry) for entry in watched.page.evaluate("window.__entries")]


@pytest.mark.browser
def test_sdk_clients_resume_after_a_restart_without_losing_an_event(
    app_server, browser, browser_page
):
    server, workspace = app_server
    watched = open_sdk_page(browser_page, server, workspace)
    resuming = ResumingClient(server.url, workspace.connection_hash)
    wait_until(lambda: resuming.joins > 0, "the client did not join")

    stored = restart_under_traffic(server, workspace)

    wait_until(lambda: len(resuming.entries) >= len(stored), "events missing")
    wait_until(lambda: len(page_entries(watched)) >= len(stored), "page missed events")
    resuming.close()
    assert resuming.entries == stored
    assert page_entries(watched) == stored
    assert resuming.close_codes[0] == 1012
    statuses = watched.page.evaluate("window.__statuses")
    assert statuses[:3] == ["connected", "disconnected", "connected"]
    # The browser itself reports the refused connections while no server runs.
    assert watched.problems(ignore=("WebSocket connection to", "ERR_CONNECTION")) == []


def test_gunicorn_worker_tells_clients_and_they_resume(gunicorn_server):
    server, workspace = gunicorn_server
    resuming = ResumingClient(server.url, workspace.connection_hash)
    raw = RawSocketIO(server.url, workspace.connection_hash)
    raw.join(CHANNEL)
    wait_until(lambda: resuming.joins > 0, "the client did not join")

    stored = restart_under_traffic(server, workspace)

    wait_until(lambda: len(resuming.entries) >= len(stored), "events missing")
    resuming.close()
    assert resuming.entries == stored
    assert resuming.close_codes[0] == 1012
    # The Socket.IO client lost its transport (an Engine.IO close, "1"), never
    # got a Socket.IO disconnect ("41/rt,"), after which it would give up.
    packets = []
    while (packet := raw.next_text()) is not None:
        packets.append(packet)
    raw.close()
    assert "41/rt," not in packets
    assert packets[-1] == "1"


class InterruptedBackend(MemoryBackend):
    """A memory backend letting another client act while history is read.

    With Redis, reading history is a network round trip, during which other
    tasks run; the memory backend never yields, so this one calls
    ``meanwhile`` there, before or after taking the entries.
    """

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], object] | None = None
        self.read_first = False

    def history_since(
        self, workspace_id: int, channel: str, since: int
    ) -> list[dict[str, Any]] | None:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None and not self.read_first:
            meanwhile()
        entries = super().history_since(workspace_id, channel, since)
        if meanwhile is not None and self.read_first:
            meanwhile()
        return entries


@pytest.mark.parametrize("read_first", [False, True], ids=["stored", "not stored"])
def test_a_message_sent_while_a_client_resumes_follows_its_catch_up_once(read_first):
    backend = InterruptedBackend()
    harness = Harness(ChannelRule(name=CHANNEL, history_size=10), backend=backend)
    writer = harness.connect()
    harness.join(writer, CHANNEL)
    harness.send(writer, "message", CHANNEL, "seen")
    harness.send(writer, "message", CHANNEL, "missed")
    reader = harness.connect()
    backend.read_first = read_first
    backend.meanwhile = lambda: harness.send(writer, "message", CHANNEL, "racing")

    replies = harness.join(reader, CHANNEL, since=1)

    assert [frame["action"] for frame in replies] == ["join", "message", "message"]
    assert [frame["payload"] for frame in replies[1:]] == ["missed", "racing"]
    assert [frame["options"]["id"] for frame in replies[1:]] == [2, 3]
    # Nothing overtook the catch-up, and later messages come live.
    assert harness.received(reader) == []
    harness.send(writer, "message", CHANNEL, "live")
    assert [frame["payload"] for frame in harness.received(reader)] == ["live"]


def test_shutdown_closes_every_client_with_1012_and_turns_newcomers_away():
    harness = Harness(ChannelRule(name=CHANNEL, presence=True))
    clients = [harness.connect(), harness.connect()]
    for client in clients:
        harness.join(client, CHANNEL, presence=True)

    assert harness.engine.shutdown() == 2

    assert harness.sink.close_codes == {client.socket_id: 1012 for client in clients}
    # 1012 needs no error frame: the close code says it all.
    for client in clients:
        assert "error" not in [f["action"] for f in harness.received(client)]
    assert harness.backend.presence(harness.snapshot.id, CHANNEL) == []
    with pytest.raises(RestartingError) as refused:
        harness.connect()
    assert refused.value.close_code == 1012
    assert harness.engine.shutdown() == 0


def test_shutdown_waits_for_messages_still_being_stored(app, monkeypatch):
    rooms = app.extensions["realtime"].rooms
    held = []
    # A store whose outcome comes only when the test says so.
    monkeypatch.setattr(
        rooms.backend, "store", lambda message, size, then: held.append(then)
    )
    outcomes = []
    frame = {"action": "message", "options": {"channel": CHANNEL}, "payload": 1}
    rooms.broadcast(1, CHANNEL, frame, Audience.ALL, 10, then=outcomes.append)

    assert len(held) == 1
    assert not _drained(app)
    held[0](Done(1))
    assert outcomes == [None]
    assert _drained(app)
