"""Two engines on one Redis behave as one server; a Redis outage is an error frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from tests.harness import Harness
from tests.services import require_service
from tests.test_backends import OwnRedis, own_redis_server, wait_subscribed
from webapp.backends.redis import PREFIX, RedisBackend
from webapp.realtime.connection import Connection
from webapp.realtime.errors import ClosingError
from webapp.realtime.liveness import check_liveness, resync_settings
from webapp.realtime.rules import ChannelRule, Limits

REDIS_URL = "redis://127.0.0.1:6379/15"
# Generous bound on waiting for the other process; never a speed check.
WAIT_SECONDS = 10
RULES = (ChannelRule("chat", presence=True, history_size=5, direct="any"),)


def _spawn(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _redis_available(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


def _backend() -> RedisBackend:
    # Without the grace a process gives the others after Redis answers again.
    return RedisBackend(REDIS_URL, reap_grace=0)


def _started(rt: Harness) -> Harness:
    rt.engine.start(_spawn, time.sleep)
    wait_subscribed(rt.backend)
    return rt


@pytest.fixture
def pair(request) -> Iterator[tuple[Harness, Harness]]:
    """Two engines, as in two server processes, on one database and one Redis."""
    require_service(_redis_available(REDIS_URL), "Redis is not reachable")
    redis.Redis.from_url(REDIS_URL).flushdb()
    limits = getattr(request, "param", None) or Limits()
    first = Harness(*RULES, limits=limits, backend=_backend())
    second = Harness(*RULES, limits=limits, backend=_backend(), store=first.store)
    yield _started(first), _started(second)
    first.engine.stop()
    second.engine.stop()


def wait_for(rt: Harness, connection: Connection, count: int) -> list[dict]:
    """Return the frames a connection got once there are ``count`` of them."""
    deadline = time.monotonic() + WAIT_SECONDS
    while len(rt.sink.frames.get(connection.socket_id, [])) < count:
        assert time.monotonic() < deadline, "frames never arrived"
        time.sleep(0.01)
    return rt.received(connection)


def test_messages_reach_members_on_the_other_process(pair):
    first, second = pair
    here, there = first.connect(), second.connect()
    first.join(here, "chat")
    second.join(there, "chat")

    first.send(here, "message", "chat", {"n": 1})

    (delivered,) = first.received(here)
    assert delivered["options"]["id"] == 1
    assert wait_for(second, there, 1) == [delivered]


def test_presence_spans_processes(pair):
    first, second = pair
    here, there = first.connect(), second.connect()
    first.join(here, "chat", presence=True)

    replies = second.join(there, "chat", presence=True)

    presence = replies[1]["payload"]["presence"]
    assert sorted(c["socketId"] for c in presence) == sorted(
        [here.socket_id, there.socket_id]
    )
    (update,) = wait_for(first, here, 1)
    assert update["payload"] == {"action": "join", "presence": there.client}
    second.engine.disconnect(there)
    (update,) = wait_for(first, here, 1)
    assert update["payload"]["action"] == "leave"


def test_direct_message_reaches_a_member_on_the_other_process(pair):
    first, second = pair
    here, there = first.connect(), second.connect()
    first.join(here, "chat")
    second.join(there, "chat")

    assert first.send(here, "message", "chat", "psst", socketId=there.socket_id) == []

    (frame,) = wait_for(second, there, 1)
    assert frame["options"]["socketId"] == there.socket_id
    assert first.received(here) == []


def test_server_event_reaches_the_other_process(pair):
    first, second = pair
    there = second.connect()
    second.join(there, "chat")
    delivered = first.engine.publish_event(1, "chat", "news")
    assert wait_for(second, there, 1) == [delivered]


@pytest.mark.parametrize("pair", [Limits(max_connections=2)], indirect=True)
def test_connection_limit_counts_every_process(pair):
    first, second = pair
    first.connect()
    second.connect()
    with pytest.raises(ClosingError) as caught:
        first.connect()
    assert caught.value.code == "connection_limit"


def test_settings_change_reaches_the_other_process(pair):
    first, second = pair
    there = second.connect()
    first.connect()
    first.change(enabled=False)
    (frame,) = wait_for(second, there, 1)
    assert frame["payload"]["code"] == "realtime_disabled"
    assert there.closed


def _unstarted(first: Harness) -> Harness:
    """A third process whose liveness the test drives by hand."""
    rt = Harness(*RULES, backend=_backend(), store=first.store)
    rt.backend.beat()
    return rt


def _expire(rt: Harness) -> None:
    """Make the process look killed: its liveness key is gone."""
    rt.backend.client.delete(f"{PREFIX}proc:{rt.backend.process_id}")


def _watch(rt: Harness) -> Connection:
    watcher = rt.connect()
    rt.join(watcher, "chat", presence=True)
    return watcher


def test_members_of_a_killed_process_leave_with_one_announcement(pair):
    first, second = pair
    here, there = _watch(first), _watch(second)
    wait_for(first, here, 1)
    killed = _unstarted(first)
    gone = killed.connect()
    killed.join(gone, "chat", presence=True)
    wait_for(first, here, 1)
    wait_for(second, there, 1)

    _expire(killed)

    for rt, watcher in ((first, here), (second, there)):
        (update,) = wait_for(rt, watcher, 1)
        assert update["payload"] == {"action": "leave", "presence": gone.client}
    assert gone.socket_id not in {
        client["socketId"] for client in first.backend.presence(1, "chat")
    }
    # Exactly once: the next frame each watcher gets is this message.
    first.send(here, "message", "chat", "after")
    assert [f["action"] for f in wait_for(first, here, 1)] == ["message"]
    assert [f["action"] for f in wait_for(second, there, 1)] == ["message"]


def test_process_taken_for_dead_registers_and_announces_its_members(pair):
    first, second = pair
    there = _watch(second)
    slow = _unstarted(first)
    member = slow.connect()
    slow.join(member, "chat", presence=True)
    wait_for(second, there, 1)
    _expire(slow)
    (left,) = wait_for(second, there, 1)
    assert left["payload"]["action"] == "leave"

    check_liveness(slow.engine)

    (back,) = wait_for(second, there, 1)
    assert back["payload"] == {"action": "join", "presence": member.client}
    assert member.client in second.backend.presence(1, "chat")
    assert second.backend.connection_count(1) == 2


def test_process_forgotten_by_redis_records_its_members_again(pair):
    first, second = pair
    here = _watch(first)
    redis.Redis.from_url(REDIS_URL).flushdb()

    deadline = time.monotonic() + WAIT_SECONDS
    while second.backend.presence(1, "chat") != [here.client]:
        assert time.monotonic() < deadline, "the member was never recorded again"
        time.sleep(0.05)
    assert second.backend.connection_count(1) == 1
    # Nobody was told it left, so nobody is told it came back.
    assert first.received(here) == []


def test_resync_reloads_settings_missed_while_deaf(pair):
    first, second = pair
    there = second.connect()
    first.store.put(replace(first.snapshot, enabled=False))

    resync_settings(second.engine)

    (frame,) = second.received(there)
    assert frame["payload"]["code"] == "realtime_disabled"
    assert there.closed


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    yield from own_redis_server()


def test_redis_outage_answers_unavailable_and_never_crashes(own_redis):
    rt = Harness(*RULES, backend=RedisBackend(own_redis.url))
    client = rt.connect()
    rt.join(client, "chat", presence=True)
    own_redis.stop()

    for action, payload in (("message", "x"), ("history", None), ("join", None)):
        # A message to store is answered once its store has failed.
        (frame,) = rt.send(client, action, "chat", payload) or rt.received(client)
        assert frame["payload"]["code"] == "unavailable"
        assert frame["options"] == {"channel": "chat"}
    assert rt.send(client, "leave", "chat")[0]["action"] == "leave"
    with pytest.raises(ClosingError) as caught:
        rt.connect()
    assert (caught.value.code, caught.value.close_code) == ("unavailable", 1011)
    rt.engine.disconnect(client)
    assert client.closed
