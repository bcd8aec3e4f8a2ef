"""The backend contract, run on the memory backend and on a real Redis."""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.live import free_port
from tests.services import require_service
from webapp.backends import bus, create_backend
from webapp.backends.base import (
    Backend,
    BackendUnavailableError,
    ClusterMessage,
    Departure,
)
from webapp.backends.memory import MemoryBackend
from webapp.backends.redis import PREFIX, RedisBackend

REDIS_URL = "redis://127.0.0.1:6379/15"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
# Generous bound on waiting for another process's message; never a speed check.
WAIT_SECONDS = 10


def frame(payload: object, channel: str = "chat") -> dict:
    return {
        "action": "message",
        "options": {"channel": channel, "authenticated": False},
        "client": None,
        "payload": payload,
    }


def client(socket_id: str) -> dict:
    return {
        "socketId": socket_id,
        "extras": {},
        "permissions": {"dbo_id": 0, "row_id": 0},
        "authenticated": False,
    }


def _spawn(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _redis_available(url: str = REDIS_URL) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


@pytest.fixture
def redis_url() -> str:
    require_service(_redis_available(), "Redis is not reachable at 127.0.0.1:6379")
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


class OwnRedis:
    """A redis-server of a test's own on a spare port, to stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        command = [
            "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            # Nothing on disk: a restart comes back empty, as after a crash.
            *("--save", "", "--appendonly", "no"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_SECONDS
        while not _redis_available(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def own_redis_server() -> Iterator[OwnRedis]:
    """Yield a started :class:`OwnRedis`, stopped afterwards (fixture body)."""
    require_service(shutil.which("redis-server") is not None, "no redis-server")
    server = OwnRedis().start()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    yield from own_redis_server()


class Inbox:
    """Collects what a started backend hears from other processes."""

    def __init__(self) -> None:
        self.messages: queue.Queue[ClusterMessage] = queue.Queue()

    def __call__(self, message: ClusterMessage) -> None:
        self.messages.put(message)

    def next(self) -> ClusterMessage:
        return self.messages.get(timeout=WAIT_SECONDS)


def started(url: str) -> tuple[RedisBackend, Inbox]:
    """Return a started Redis backend once its listener is subscribed."""
    backend, inbox = RedisBackend(url, reap_grace=0), Inbox()
    backend.start(_spawn, time.sleep, inbox)
    wait_subscribed(backend)
    return backend, inbox


def wait_subscribed(backend: Backend) -> None:
    """Wait until Redis confirmed the backend's subscription."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not backend.listening():
        assert time.monotonic() < deadline, "listener never subscribed"
        time.sleep(0.01)


@pytest.fixture(params=["memory", "redis"])
def backend(request) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    backend, _ = started(request.getfixturevalue("redis_url"))
    yield backend
    backend.stop()


def test_history_ids_increase_per_channel(backend):
    ids = [backend.append_history(1, "chat", frame(n), 1000 + n, 10) for n in range(3)]
    assert ids == [1, 2, 3]
    assert backend.append_history(1, "other", frame("x"), 0, 10) == 1
    assert backend.append_history(2, "chat", frame("x"), 0, 10) == 1


def test_history_entries_are_the_frame_plus_id_and_time(backend):
    backend.append_history(1, "chat", frame({"big": 2**60, "f": 0.1}), 1234, 10)
    assert backend.history(1, "chat") == [
        {
            "action": "message",
            "options": {"channel": "chat", "authenticated": False, "id": 1},
            "client": None,
            "payload": {"big": 2**60, "f": 0.1},
            "id": 1,
            "created_at": 1234,
        }
    ]


def test_history_is_capped_to_its_size_oldest_first(backend):
    for n in range(5):
        backend.append_history(1, "chat", frame(n), n, 3)
    assert [entry["payload"] for entry in backend.history(1, "chat")] == [2, 3, 4]
    backend.append_history(1, "chat", frame(5), 5, 2)
    assert [entry["id"] for entry in backend.history(1, "chat")] == [5, 6]


def test_history_of_an_unknown_channel_is_empty(backend):
    assert backend.history(1, "nothing") == []
    assert backend.history_since(1, "nothing", 0) is None


def test_history_since(backend):
    for n in range(5):
        backend.append_history(1, "chat", frame(n), n, 3)
    assert [entry["id"] for entry in backend.history_since(1, "chat", 3)] == [4, 5]
    assert backend.history_since(1, "chat", 5) == []
    assert backend.history_since(1, "chat", 2) is None
    assert backend.history_since(1, "chat", 9) is None


def test_store_keeps_a_broadcast_and_publish_does_not(backend):
    message = ClusterMessage("broadcast", 1, "chat", frame("kept"), created_at=77)
    assert backend.store(message, history_size=5).wait() == 1
    assert message.id == 1
    assert backend.publish(ClusterMessage("broadcast", 1, "chat", frame("no"))) is None
    assert [entry["payload"] for entry in backend.history(1, "chat")] == ["kept"]
    assert backend.history(1, "chat")[0]["created_at"] == 77


def test_stores_take_ids_in_the_order_queued_whoever_waits_first(backend):
    messages = [ClusterMessage("broadcast", 1, "chat", frame(n)) for n in range(4)]
    pending = [backend.store(message, history_size=3) for message in messages]
    ids = [pending[index].wait() for index in (3, 1, 0, 2)]
    assert ids == [4, 2, 1, 3]
    assert [message.id for message in messages] == [1, 2, 3, 4]
    assert [entry["payload"] for entry in backend.history(1, "chat")] == [1, 2, 3]


def test_presence_lists_only_visible_members(backend):
    backend.add_member(1, "chat", "a", client("a"), True)
    backend.add_member(1, "chat", "b", client("b"), False)
    backend.add_member(1, "other", "c", client("c"), True)
    assert backend.presence(1, "chat") == [client("a")]
    assert backend.member(1, "chat", "b") == client("b")
    assert backend.member(1, "chat", "c") is None


def test_presence_comes_in_join_order(backend):
    for socket_id in ("c", "a", "b"):
        backend.add_member(1, "chat", socket_id, client(socket_id), True)
    assert [c["socketId"] for c in backend.presence(1, "chat")] == ["c", "a", "b"]
    backend.add_member(1, "chat", "c", client("c"), True)
    assert [c["socketId"] for c in backend.presence(1, "chat")] == ["a", "b", "c"]


def test_members_can_change_visibility_and_leave(backend):
    backend.add_member(1, "chat", "a", client("a"), True)
    backend.add_member(1, "chat", "a", client("a"), False)
    assert backend.presence(1, "chat") == []
    backend.remove_member(1, "chat", "a")
    backend.remove_member(1, "chat", "never-there")
    assert backend.member(1, "chat", "a") is None


def test_channel_counts(backend):
    backend.add_member(1, "chat", "a", client("a"), True)
    backend.add_member(1, "chat", "b", client("b"), False)
    backend.add_member(1, "room:1", "a", client("a"), False)
    backend.add_member(2, "chat", "z", client("z"), False)
    assert backend.channel_counts(1) == {"chat": 2, "room:1": 1}
    backend.remove_member(1, "room:1", "a")
    assert backend.channel_counts(1) == {"chat": 2}


def test_connections_are_counted_up_to_the_limit(backend):
    assert [backend.add_connection(1, 2) for _ in range(3)] == [True, True, False]
    assert backend.add_connection(2, 2)
    assert backend.connection_count(1) == 2
    backend.remove_connection(1)
    assert backend.connection_count(1) == 1
    assert backend.add_connection(1, 2)


def test_connection_count_never_goes_negative(backend):
    backend.remove_connection(1)
    assert backend.connection_count(1) == 0
    assert backend.add_connection(1, 1)


def test_forget_workspace_drops_its_data(backend):
    backend.append_history(1, "chat", frame("x"), 0, 5)
    backend.add_member(1, "chat", "a", client("a"), True)
    backend.append_history(2, "chat", frame("y"), 0, 5)
    backend.forget_workspace(1)
    assert backend.history(1, "chat") == []
    assert backend.channel_counts(1) == {}
    assert len(backend.history(2, "chat")) == 1


def test_check_passes_when_reachable(backend):
    backend.check()


def test_a_live_process_reaps_nobody(backend):
    backend.add_member(1, "chat", "a", client("a"), True)
    assert backend.beat() == "alive"
    assert backend.reap() == []
    assert backend.presence(1, "chat") == [client("a")]


def test_set_connections_records_this_process_count(backend):
    backend.add_connection(1, 10)
    backend.set_connections(1, 3)
    assert backend.connection_count(1) == 3
    backend.set_connections(1, 0)
    assert backend.connection_count(1) == 0


def test_backend_is_chosen_from_the_url():
    assert isinstance(create_backend(""), MemoryBackend)
    assert isinstance(create_backend(REDIS_URL), RedisBackend)


def test_broadcast_reaches_the_other_process_not_itself(redis_url):
    first, first_inbox = started(redis_url)
    second, second_inbox = started(redis_url)
    message = ClusterMessage(
        "broadcast", 1, "chat", frame({"n": 2**60}), 2, created_at=5
    )

    stored_id = first.store(message, history_size=10).wait()

    heard = second_inbox.next()
    assert (heard.kind, heard.workspace_id, heard.channel, heard.audience) == (
        "broadcast",
        1,
        "chat",
        2,
    )
    assert (heard.frame, heard.id, heard.origin) == (
        frame({"n": 2**60}),
        stored_id,
        first.process_id,
    )
    second.publish(ClusterMessage("settings", 3))
    assert first_inbox.next().kind == "settings"
    assert first_inbox.messages.empty()
    first.stop()
    second.stop()


def test_direct_and_settings_messages_cross_processes(redis_url):
    first, _ = started(redis_url)
    second, inbox = started(redis_url)
    first.publish(ClusterMessage("direct", 1, "chat", frame("psst"), target="sock"))
    first.publish(ClusterMessage("settings", 4))
    direct, settings = inbox.next(), inbox.next()
    assert (direct.kind, direct.target, direct.frame) == (
        "direct",
        "sock",
        frame("psst"),
    )
    assert (settings.kind, settings.workspace_id, settings.frame) == (
        "settings",
        4,
        None,
    )
    first.stop()
    second.stop()


def test_presence_and_connections_are_shared_between_processes(redis_url):
    first, second = RedisBackend(redis_url), RedisBackend(redis_url)
    first.add_member(1, "chat", "a", client("a"), True)
    second.add_member(1, "chat", "b", client("b"), True)
    assert first.add_connection(1, 2) and second.add_connection(1, 2)
    assert not first.add_connection(1, 2)
    assert second.presence(1, "chat") == [client("a"), client("b")]
    assert first.connection_count(1) == 2


def test_members_and_connections_of_a_dead_process_are_ignored(redis_url):
    dead, alive = RedisBackend(redis_url), RedisBackend(redis_url)
    dead.add_member(1, "chat", "a", client("a"), True)
    dead.add_connection(1, 1)
    alive.add_member(1, "chat", "b", client("b"), True)
    # What a crashed process leaves behind: its liveness key expires.
    alive.client.delete(f"{PREFIX}proc:{dead.process_id}")

    assert alive.presence(1, "chat") == [client("b")]
    assert alive.channel_counts(1) == {"chat": 1}
    assert alive.connection_count(1) == 0
    assert alive.add_connection(1, 1)


def test_unreachable_redis_raises_backend_unavailable():
    backend = RedisBackend(DEAD_REDIS_URL)
    calls = [
        backend.check,
        lambda: backend.append_history(1, "chat", frame("x"), 0, 5),
        lambda: backend.history(1, "chat"),
        lambda: backend.add_member(1, "chat", "a", client("a"), True),
        lambda: backend.presence(1, "chat"),
        lambda: backend.add_connection(1, 5),
        lambda: backend.publish(ClusterMessage("broadcast", 1, "chat", frame("x"))),
        lambda: backend.store(ClusterMessage("broadcast", 1, "c", frame(0)), 5).wait(),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailableError):
            call()


def test_listener_comes_back_after_redis_restarts(own_redis):
    listener, inbox = started(own_redis.url)
    own_redis.stop()
    own_redis.start()
    sender = RedisBackend(own_redis.url)

    # Pub/sub keeps nothing for an absent listener: publish until it hears.
    deadline = time.monotonic() + WAIT_SECONDS
    heard = []
    while not any(message.kind == "settings" for message in heard):
        assert time.monotonic() < deadline, "the listener never came back"
        sender.publish(ClusterMessage("settings", 9))
        try:
            heard.append(inbox.messages.get(timeout=0.2))
        except queue.Empty:
            pass

    # Settings changes made while it was deaf are lost: it asks for a resync.
    assert heard[0] == ClusterMessage("resync", 0)
    assert heard[-1].workspace_id == 9
    assert listener.listening() is True
    listener.stop()


def test_listening_tells_whether_the_bus_is_heard(own_redis):
    listener = RedisBackend(own_redis.url)
    assert listener.listening() is None
    listener.start(_spawn, time.sleep, Inbox())
    wait_subscribed(listener)

    own_redis.stop()

    deadline = time.monotonic() + WAIT_SECONDS
    while listener.listening():
        assert time.monotonic() < deadline, "the lost subscription went unnoticed"
        time.sleep(0.05)
    assert listener.listening() is False
    listener.stop()
    assert listener.listening() is None


def test_outage_is_logged_at_error_once_and_its_end_at_info(own_redis, caplog):
    caplog.set_level(logging.INFO, logger="webapp.backends.redis")
    backend = RedisBackend(own_redis.url)
    backend.check()
    own_redis.stop()
    for _ in range(3):
        with pytest.raises(BackendUnavailableError):
            backend.history(1, "chat")
    own_redis.start()
    backend.check()

    records = [r for r in caplog.records if r.name == "webapp.backends.redis"]
    assert [r.levelname for r in records] == ["ERROR", "INFO"]
    assert "not reachable" in records[0].getMessage()
    assert "reachable again" in records[1].getMessage()


def test_beat_registers_and_reports_a_forgotten_process(redis_url):
    backend = RedisBackend(redis_url)
    assert backend.beat() == "alive"
    assert backend.client.sismember(f"{PREFIX}procs", backend.process_id)

    # What an empty restart of Redis does.
    backend.client.flushdb()

    assert backend.beat() == "forgotten"
    assert backend.beat() == "alive"


def _dead_and_survivors(url: str) -> tuple[RedisBackend, RedisBackend, RedisBackend]:
    dead, first, second = (RedisBackend(url, reap_grace=0) for _ in range(3))
    for backend in (dead, first, second):
        backend.beat()
    dead.add_member(1, "chat", "a", client("a"), True)
    dead.add_member(1, "room:1", "a", client("a"), False)
    dead.add_member(2, "chat", "b", client("b"), True)
    dead.add_member(2, "chat", "gone", client("gone"), True)
    dead.remove_member(2, "chat", "gone")
    dead.add_connection(1, 5)
    dead.add_connection(2, 5)
    first.add_member(1, "chat", "c", client("c"), True)
    first.add_connection(1, 5)
    # What a kill -9 leaves behind once its liveness expired.
    first.client.delete(f"{PREFIX}proc:{dead.process_id}")
    return dead, first, second


def test_one_survivor_reaps_a_dead_process_and_gets_its_members(redis_url):
    dead, first, second = _dead_and_survivors(redis_url)

    departed = first.reap()

    assert sorted(departed, key=lambda d: (d.workspace_id, d.channel)) == [
        Departure(1, "chat", client("a"), True),
        Departure(1, "room:1", client("a"), False),
        Departure(2, "chat", client("b"), True),
    ]
    assert second.reap() == [] and first.reap() == []
    assert first.channel_counts(1) == {"chat": 1}
    assert first.channel_counts(2) == {}
    redis = first.client
    assert redis.hkeys(f"{PREFIX}1:conns") == [first.process_id]
    assert not redis.exists(f"{PREFIX}2:conns")
    assert not redis.exists(f"{PREFIX}pm:{dead.process_id}")
    assert not redis.sismember(f"{PREFIX}procs", dead.process_id)


def test_members_of_a_dead_process_are_hidden_until_reaped(redis_url):
    dead, first, _ = _dead_and_survivors(redis_url)
    assert first.presence(1, "chat") == [client("c")]
    assert first.client.hexists(f"{PREFIX}1:m:chat", "a")
    assert [d.client for d in first.reap() if d.channel == "chat"][0] == client("a")


def test_reaping_waits_for_the_grace_after_redis_answers(redis_url):
    dead, _, _ = _dead_and_survivors(redis_url)
    patient = RedisBackend(redis_url)
    patient.beat()
    assert patient.reap() == []


def test_a_process_taken_for_dead_registers_under_a_new_id(redis_url):
    slow, first, _ = _dead_and_survivors(redis_url)
    old_id = slow.process_id
    first.reap()

    assert slow.beat() == "reaped"

    assert slow.process_id != old_id
    assert slow.beat() == "alive"
    assert slow.client.sismember(f"{PREFIX}procs", slow.process_id)
    slow.add_member(1, "chat", "a", client("a"), True)
    assert first.presence(1, "chat") == [client("c"), client("a")]


def test_stopped_backend_is_reaped_at_once(redis_url):
    leaving, survivor = started(redis_url)[0], started(redis_url)[0]
    leaving.beat()
    survivor.beat()
    leaving.add_member(1, "chat", "a", client("a"), True)
    leaving.stop()
    assert survivor.reap() == [Departure(1, "chat", client("a"), True)]
    survivor.stop()


@pytest.mark.parametrize(
    "message",
    [
        ClusterMessage("broadcast", 1, "room:1", frame({"x": [1.5, None]}), 2),
        ClusterMessage("direct", 2, "chat", frame("psst"), target="abc"),
        ClusterMessage("settings", 3),
    ],
)
def test_bus_messages_round_trip(message):
    text = bus.encode_message(message, "process-1")
    assert text.startswith(bus.echo_prefix("process-1"))
    assert bus.decode_message(text) == ClusterMessage(
        message.kind,
        message.workspace_id,
        message.channel,
        message.frame,
        message.audience,
        message.target,
        origin="process-1",
    )
