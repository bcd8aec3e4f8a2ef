"""Stores and publishes leave for Redis in shared batches, and still keep order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.harness import Harness, RecordingSink
from tests.services import require_service
from tests.test_backends import (
    DEAD_REDIS_URL,
    REDIS_URL,
    OwnRedis,
    frame,
    own_redis_server,
)
from webapp.backends import redis_batch
from webapp.backends.base import ClusterMessage
from webapp.backends.redis import RedisBackend
from webapp.backends.redis_batch import Batcher, Call
from webapp.realtime.ordering import ChannelOrder
from webapp.realtime.rules import ChannelRule, Limits

# Generous bound on waiting for threads; never a speed check.
WAIT_SECONDS = 10
# The list a held batch waits on, until the test pushes to it.
HOLD_KEY = "test:hold"


@pytest.fixture
def redis_url() -> str:
    """The tests' Redis database, emptied."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        require_service(False, "Redis is not reachable at 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server of this test's own, to stop and start."""
    yield from own_redis_server()


def _start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "a thread never finished"


def _wait_until(condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def _holding_batch(batcher: Batcher) -> Call:
    """Send a batch that Redis answers only once :func:`_release` is called."""
    sent = batcher.batches
    call = batcher.submit("BLPOP", HOLD_KEY, WAIT_SECONDS)
    _wait_until(lambda: batcher.batches == sent + 1)
    return call


def _release(batcher: Batcher, held: Call) -> None:
    """Let a held batch be answered, from a client of its own."""
    redis.Redis.from_url(REDIS_URL).rpush(HOLD_KEY, "go")
    assert batcher.wait(held) is not None, "the held batch was not released"


def test_commands_queued_during_a_round_trip_leave_together_in_order(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    batcher = Batcher(client)
    holder = _holding_batch(batcher)
    followed = []
    calls = [
        batcher.submit("INCR", "test:counter", then=lambda call: followed.append(call))
        for _ in range(20)
    ]
    _release(batcher, holder)
    replies = [batcher.wait(call) for call in calls]

    assert (batcher.batches, batcher.commands) == (2, 21)
    assert replies == list(range(1, 21))
    # Each call's follow-up ran once it was done, in the order submitted.
    assert followed == calls


def test_a_failing_command_fails_only_its_own_call(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.rpush("test:list", "x")
    batcher = Batcher(client)
    holder = _holding_batch(batcher)
    wrong = batcher.submit("INCR", "test:list")
    right = batcher.submit("INCR", "test:counter")
    _release(batcher, holder)
    with pytest.raises(redis.ResponseError):
        batcher.wait(wrong)
    assert batcher.wait(right) == 1
    assert batcher.batches == 2


def test_a_script_redis_forgot_is_loaded_again(redis_url):
    backend = RedisBackend(redis_url)
    first = ClusterMessage("broadcast", 1, "chat", frame("one"))
    assert backend.store(first, 5).wait() == 1
    backend.client.script_flush()
    second = ClusterMessage("broadcast", 1, "chat", frame("two"))
    assert backend.store(second, 5).wait() == 2
    payloads = [entry["payload"] for entry in backend.history(1, "chat")]
    assert payloads == ["one", "two"]


def test_a_catch_up_waits_for_stores_on_their_way_and_holds_new_ones_back():
    order = ChannelOrder()
    with order.queueing():
        pass
    events = []
    in_catch_up = threading.Event()

    def catch_up() -> None:
        with order.exclusive():
            events.append("catch-up")
            in_catch_up.set()
            time.sleep(0.2)
            events.append("caught up")

    def later_store() -> None:
        in_catch_up.wait(WAIT_SECONDS)
        with order.queueing():
            events.append("queued")
        order.landed()

    reader = _start(catch_up)
    writer = _start(later_store)
    time.sleep(0.1)
    # The catch-up cannot begin while the earlier store is not delivered.
    assert events == []
    events.append("landed")
    order.landed()
    _join_all([reader, writer])
    assert events == ["landed", "catch-up", "caught up", "queued"]


def test_one_senders_flood_shares_round_trips_and_keeps_its_order(redis_url):
    rules = (ChannelRule("chat", history_size=100),)
    limits = Limits(frames_per_second=1000)
    backend = RedisBackend(redis_url)
    rt = Harness(*rules, limits=limits, backend=backend)
    listener, sender = rt.connect(), rt.connect()
    rt.join(listener, "chat")
    rt.join(sender, "chat")
    rt.received(listener)
    before = backend._batcher.batches
    holder = _holding_batch(backend._batcher)

    for n in range(50):
        # Each returns at once, without waiting for Redis.
        frame = {"action": "message", "options": {"channel": "chat"}, "payload": n}
        assert rt.engine.receive(sender, frame) == []
    _release(backend._batcher, holder)
    _wait_until(lambda: len(rt.sink.frames.get(listener.socket_id, [])) == 50)

    got = rt.received(listener)
    assert [item["payload"] for item in got] == list(range(50))
    assert [item["options"]["id"] for item in got] == list(range(1, 51))
    # The held batch, then the fifty messages in one.
    assert backend._batcher.batches - before == 2


def test_concurrent_messages_in_one_channel_arrive_in_id_order(redis_url):
    rules = (ChannelRule("chat", history_size=200),)
    limits = Limits(frames_per_second=1000)
    rt = Harness(*rules, limits=limits, backend=RedisBackend(redis_url))
    listener = rt.connect()
    rt.join(listener, "chat")
    senders = [rt.connect() for _ in range(8)]
    for sender in senders:
        rt.join(sender, "chat")
    rt.received(listener)
    start = threading.Barrier(len(senders))

    def send_all(index: int) -> None:
        start.wait(WAIT_SECONDS)
        for n in range(20):
            payload = {"from": index, "n": n}
            assert rt.send(senders[index], "message", "chat", payload) == []

    _join_all([_start(send_all, index) for index in range(len(senders))])
    _wait_until(lambda: len(rt.sink.frames.get(listener.socket_id, [])) == 160)

    got = [item for item in rt.received(listener) if item["action"] == "message"]
    ids = [item["options"]["id"] for item in got]
    assert ids == list(range(1, 161))
    stored = rt.backend.history(1, "chat")
    assert [entry["payload"] for entry in stored] == [item["payload"] for item in got]
    for index in range(len(senders)):
        mine = [item["payload"] for item in got if item["payload"]["from"] == index]
        assert [payload["n"] for payload in mine] == list(range(20))
    # Eight threads sending at once shared round trips.
    assert rt.backend._batcher.batches < rt.backend._batcher.commands


@pytest.mark.parametrize("history_size", [0, 5])
def test_a_message_while_redis_is_down_is_an_error_and_later_ones_flow(
    own_redis, history_size
):
    rules = (ChannelRule("chat", history_size=history_size),)
    rt = Harness(*rules, backend=RedisBackend(own_redis.url))
    member = rt.connect()
    rt.join(member, "chat")
    rt.received(member)
    own_redis.stop()
    # A message is answered once it could not be stored or published.
    assert rt.send(member, "message", "chat", "lost") == []
    _wait_until(lambda: rt.sink.frames.get(member.socket_id))
    replies = rt.received(member)
    assert [reply["payload"]["code"] for reply in replies] == ["unavailable"]
    assert replies[0]["options"]["channel"] == "chat"

    own_redis.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        rt.send(member, "message", "chat", "after")
        time.sleep(0.05)
        got = rt.received(member)
        if [item["payload"] for item in got] == ["after"]:
            break
        assert time.monotonic() < deadline, "messages never flowed again"


@pytest.mark.parametrize("history_size", [0, 5])
def test_a_clients_next_frame_sees_its_own_messages(redis_url, history_size):
    rules = (ChannelRule("chat", history_size=history_size),)
    limits = Limits(frames_per_second=1000)
    backend = RedisBackend(redis_url)
    rt = Harness(*rules, limits=limits, backend=backend)
    client = rt.connect()
    rt.join(client, "chat", history=True)
    rt.received(client)
    holder = _holding_batch(backend._batcher)

    progress, replies = [], []

    def send_then_leave() -> None:
        for n in range(3):
            frame = {"action": "message", "options": {"channel": "chat"}, "payload": n}
            assert rt.engine.receive(client, frame) == []
        progress.append("sent")
        replies.extend(rt.send(client, "leave", "chat"))

    worker = _start(send_then_leave)
    # A message to be stored returns at once and the leave waits for it to
    # be delivered; a message without history waits for its publish.
    if history_size:
        _wait_until(lambda: progress == ["sent"])
    worker.join(0.2)
    assert progress == (["sent"] if history_size else [])
    assert replies == []
    _release(backend._batcher, holder)
    _join_all([worker])

    assert [item["payload"] for item in rt.received(client)] == [0, 1, 2]
    assert [reply["action"] for reply in replies] == ["leave"]
    assert client.stores_pending == 0


def test_a_follow_up_may_wait_on_the_batcher_itself(redis_url):
    # A delivery can close a client, which then leaves its channels and
    # publishes its leave: the follow-up waits on the batcher it runs in.
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    batcher = Batcher(client)
    inner = []

    def follow_up(call: Call) -> None:
        inner.append(batcher.wait(batcher.submit("INCR", "test:counter")))

    first = batcher.submit("PING", then=follow_up)
    assert batcher.wait(first) is True
    assert inner == [1]
    assert batcher.wait(batcher.submit("INCR", "test:counter")) == 2


def test_a_follow_up_may_not_wait_for_a_later_follow_up(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    batcher = Batcher(client)
    errors = []

    def follow_up(call: Call) -> None:
        later = batcher.submit("PING", then=lambda call: None)
        try:
            batcher.wait(later)
        except RuntimeError as exc:
            errors.append(str(exc))

    batcher.wait(batcher.submit("PING", then=follow_up))
    assert errors == ["a follow-up waited for a later follow-up"]
    # The completer went on.
    assert batcher.wait(batcher.submit("PING", then=lambda call: None)) is True


def test_unfinished_calls_stay_near_the_cap(redis_url, monkeypatch):
    monkeypatch.setattr(redis_batch, "MAX_QUEUED", 50)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    batcher = Batcher(client)
    peaks = []

    def slow_follow_up(call: Call) -> None:
        peaks.append(len(batcher._queue) + batcher._sending + len(batcher._following))
        time.sleep(0.001)

    def flood() -> None:
        for _ in range(200):
            batcher.submit("PING", then=slow_follow_up)

    floods = [_start(flood) for _ in range(4)]
    _join_all(floods)
    batcher.wait(batcher.submit("PING", then=slow_follow_up))

    assert len(peaks) == 801
    # Each of the four submitters may add one call past the cap.
    assert max(peaks) <= 50 + 4


# The completer's thread ends with SystemExit on purpose.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_killed_completer_leaves_no_call_behind(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    batcher = Batcher(client)
    ran = []

    def fatal(call: Call) -> None:
        raise SystemExit("the completer is killed")

    holder = _holding_batch(batcher)
    killing = batcher.submit("PING", then=fatal)
    left = batcher.submit("PING", then=lambda call: ran.append(call))
    _release(batcher, holder)

    # The call whose follow-up killed the completer is finished all the same.
    assert batcher.wait(killing) is True
    _wait_until(lambda: not batcher._completer.is_alive())
    assert not left.finished and ran == []
    # The next command starts a completer, which runs what was left.
    batcher.submit("PING")
    assert batcher.wait(left) is True
    assert ran == [left]


def test_a_crowded_queue_with_redis_down_fails_each_message_once(
    redis_url, monkeypatch
):
    backend = RedisBackend(redis_url)
    rt = Harness(ChannelRule("chat", history_size=10), backend=backend)
    client = rt.connect()
    rt.join(client, "chat")
    rt.received(client)
    # Every submitter finds the queue crowded, and Redis does not answer.
    monkeypatch.setattr(redis_batch, "MAX_QUEUED", 0)
    reachable = backend._batcher._client
    backend._batcher._client = redis.Redis.from_url(DEAD_REDIS_URL)

    assert rt.send(client, "message", "chat", "lost") == []
    (error,) = rt.received(client)
    assert error["payload"]["code"] == "unavailable"
    assert client.stores_pending == 0

    backend._batcher._client = reachable
    replies = rt.send(client, "history", "chat")
    assert [reply["action"] for reply in replies] == ["history"]


class _FailingOnceSink(RecordingSink):
    """A sink whose next delivery raises."""

    failing = False
    raising: type[BaseException] = RuntimeError

    def deliver(self, room, outgoing, audience) -> None:
        if self.failing:
            self.failing = False
            raise self.raising("a sink failed")
        super().deliver(room, outgoing, audience)


@pytest.mark.parametrize("history_size", [0, 10])
def test_a_delivery_that_raises_still_lands(redis_url, history_size):
    rule = ChannelRule("chat", history_size=history_size)
    rt = Harness(rule, backend=RedisBackend(redis_url))
    rt.sink = _FailingOnceSink()
    client = rt.connect()
    rt.join(client, "chat")
    rt.sink.failing = True

    rt.send(client, "message", "chat", "not delivered")

    assert client.stores_pending == 0
    assert [reply["action"] for reply in rt.send(client, "leave", "chat")] == ["leave"]
    stored = [entry["payload"] for entry in rt.backend.history(1, "chat")]
    assert stored == (["not delivered"] if history_size else [])


def test_a_message_without_history_killed_while_delivered_still_lands(redis_url):
    rt = Harness(ChannelRule("chat"), backend=RedisBackend(redis_url))
    rt.sink = _FailingOnceSink()
    client = rt.connect()
    rt.join(client, "chat")
    rt.sink.failing = True
    rt.sink.raising = SystemExit

    with pytest.raises(SystemExit):
        rt.send(client, "message", "chat", "cut short")

    assert client.stores_pending == 0
