"""Channel history survives a Redis restart when Redis persists what it is sent.

Each test starts a redis-server of its own on a spare port (never the shared
one), serves a live app on it, writes history, then kills Redis and starts it
again on the same directory. With ``appendonly yes`` the history and its ids
come back; without persistence they are gone, as the README warns.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.live import ServerProcess, free_port
from tests.services import require_service
from tests.test_socketio_rt import Seeded, Seeder
from tests.ws_client import WsTestClient

pytestmark = pytest.mark.live

WAIT_SECONDS = 10
CHANNEL = "news"
# What the README asks of a Redis that keeps history.
PERSISTENT = ("--appendonly", "yes", "--appendfsync", "everysec")
EPHEMERAL = ("--appendonly", "no", "--save", "")


class RedisServer:
    """A redis-server of a test's own, on a spare port, keeping files in a folder."""

    def __init__(self, directory: Path, options: tuple[str, ...] = PERSISTENT):
        self.directory = directory
        self.options = options
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            *self.options,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                # Ready means the data on disk has been loaded.
                if client.ping():
                    break
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        client.close()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(WAIT_SECONDS)
        self.process = None

    def crash(self) -> None:
        """Stop without letting Redis save anything on the way out."""
        self.stop(signal.SIGKILL)


def redis_server(directory: Path, options: tuple[str, ...]) -> Iterator[RedisServer]:
    """Yield a started :class:`RedisServer`, stopped afterwards (fixture body)."""
    require_service(shutil.which("redis-server") is not None, "no redis-server")
    server = RedisServer(directory, options).start()
    yield server
    server.stop()


@pytest.fixture(params=["appendonly", "no persistence"])
def persistence(request) -> tuple[str, ...]:
    return PERSISTENT if request.param == "appendonly" else EPHEMERAL


@pytest.fixture
def own_redis(tmp_path, persistence) -> Iterator[RedisServer]:
    yield from redis_server(tmp_path / "redis", persistence)


@pytest.fixture
def app_server(tmp_path, own_redis) -> Iterator[tuple[ServerProcess, Seeded]]:
    instance = tmp_path / "instance"
    server = ServerProcess(instance, env={"REDIS_URL": own_redis.url}).start()
    seeder = Seeder(instance)
    workspace = seeder.workspace({"name": CHANNEL, "history_size": 50})
    yield server, workspace
    seeder.close()
    server.stop()


def _send(client: WsTestClient, texts: list[str]) -> list[int]:
    """Send messages; return their history ids as echoed back."""
    ids = []
    for text in texts:
        client.send("message", CHANNEL, text)
        ids.append(client.expect("message")["options"]["id"])
    return ids


def _history(url: str, workspace: Seeded) -> list[tuple[int, str]]:
    client = WsTestClient(url, workspace.connection_hash)
    client.join(CHANNEL, history=True)
    entries = client.expect("history")["payload"]["history"]
    client.close()
    return [(entry["id"], entry["payload"]) for entry in entries]


def test_history_and_its_ids_survive_a_redis_crash_only_with_persistence(
    app_server, own_redis, persistence
):
    server, workspace = app_server
    writer = WsTestClient(server.url, workspace.connection_hash)
    writer.join(CHANNEL)
    ids = _send(writer, ["one", "two", "three"])
    writer.close()

    own_redis.crash()
    own_redis.start()

    if persistence == PERSISTENT:
        kept = list(zip(ids, ["one", "two", "three"], strict=True))
        assert _history(server.url, workspace) == kept
        resumed = WsTestClient(server.url, workspace.connection_hash)
        resumed.join(CHANNEL, since=ids[0])
        replayed = [resumed.expect("message") for _ in ids[1:]]
        assert [frame["options"]["id"] for frame in replayed] == ids[1:]
        # Ids go on from where they were, so clients' ``since`` stays right.
        assert _send(resumed, ["four"]) == [ids[-1] + 1]
        resumed.close()
    else:
        assert _history(server.url, workspace) == []
