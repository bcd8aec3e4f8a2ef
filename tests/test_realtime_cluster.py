"""Two engines on one Redis behave as one server; a Redis outage is an error frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.services import require_service
from tests.test_backends import OwnRedis, own_redis_server, wait_subscribed
from webapp.backends.redis import RedisBackend
from webapp.realtime.connection import Connection
from webapp.realtime.errors import ClosingError
from webapp.realtime.rules import ChannelRule, Limits
from webapp.realtime.testing import Harness

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
    first = Harness(*RULES, limits=limits, backend=RedisBackend(REDIS_URL))
    second = Harness(
        *RULES, limits=limits, backend=RedisBackend(REDIS_URL), store=first.store
    )
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


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    yield from own_redis_server()


def test_redis_outage_answers_unavailable_and_never_crashes(own_redis):
    rt = Harness(*RULES, backend=RedisBackend(own_redis.url))
    client = rt.connect()
    rt.join(client, "chat", presence=True)
    own_redis.stop()

    for action, payload in (("message", "x"), ("history", None), ("join", None)):
        (frame,) = rt.send(client, action, "chat", payload)
        assert frame["payload"]["code"] == "unavailable"
        assert frame["options"] == {"channel": "chat"}
    assert rt.send(client, "leave", "chat")[0]["action"] == "leave"
    with pytest.raises(ClosingError) as caught:
        rt.connect()
    assert (caught.value.code, caught.value.close_code) == ("unavailable", 1011)
    rt.engine.disconnect(client)
    assert client.closed
