"""Presence frames, history entries and resuming with ``since``."""

from __future__ import annotations

import pytest
import redis

from tests.harness import Harness
from tests.services import require_service
from webapp.backends.memory import MemoryBackend
from webapp.backends.redis import RedisBackend
from webapp.realtime.rules import ChannelRule

ALICE = (7, "Alice")
REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_backend() -> RedisBackend:
    backend = RedisBackend(REDIS_URL)
    try:
        backend.client.flushdb()
    except redis.RedisError:
        require_service(False, "Redis is not reachable")
    return backend


@pytest.fixture(params=["memory", "redis"])
def rt(request) -> Harness:
    """The engine over each backend: presence and history live there."""
    backend = MemoryBackend() if request.param == "memory" else _redis_backend()
    return Harness(
        ChannelRule("lobby", presence=True, history_size=3),
        ChannelRule("quiet", presence=False, history_size=0),
        ChannelRule("vip", presence=True, history_size=5, receive="authenticated"),
        ChannelRule("dm", direct="any", history_size=5),
        backend=backend,
    )


def actions(frames: list[dict]) -> list[str]:
    return [frame["action"] for frame in frames]


def codes(frames: list[dict]) -> list[str]:
    return [frame["payload"]["code"] for frame in frames if frame["action"] == "error"]


def test_join_with_presence_gets_everyone_including_itself(rt):
    first, second = rt.connect(), rt.connect(ALICE)
    rt.join(first, "lobby", presence=True)

    replies = rt.join(second, "lobby", presence=True)

    assert actions(replies) == ["join", "presence_full"]
    assert replies[0]["payload"] == {"presence": True, "history": False}
    assert replies[1] == {
        "action": "presence_full",
        "options": {"channel": "lobby"},
        "payload": {"presence": [first.client, second.client]},
    }


def test_others_with_presence_hear_of_a_join(rt):
    watcher, silent, newcomer = rt.connect(), rt.connect(), rt.connect()
    rt.join(watcher, "lobby", presence=True)
    rt.join(silent, "lobby")

    rt.join(newcomer, "lobby", presence=True)

    assert rt.received(watcher) == [
        {
            "action": "presence_update",
            "options": {"channel": "lobby"},
            "payload": {"action": "join", "presence": newcomer.client},
        }
    ]
    assert rt.received(silent) == []
    assert rt.received(newcomer) == []


def test_join_without_presence_is_not_shown(rt):
    watcher, hidden = rt.connect(), rt.connect()
    rt.join(watcher, "lobby", presence=True)
    rt.join(hidden, "lobby")
    assert rt.received(watcher) == []
    assert rt.join(watcher, "lobby", presence=True)[1]["payload"]["presence"] == [
        watcher.client
    ]


def test_rule_without_presence_grants_none(rt):
    client = rt.connect()
    replies = rt.join(client, "quiet", presence=True)
    assert actions(replies) == ["join"]
    assert replies[0]["payload"]["presence"] is False


@pytest.mark.parametrize("how", ["leave", "disconnect"])
def test_leaving_is_announced_to_presence_members(rt, how):
    watcher, leaver = rt.connect(), rt.connect()
    rt.join(watcher, "lobby", presence=True)
    rt.join(leaver, "lobby", presence=True)
    rt.received(watcher)

    if how == "leave":
        rt.send(leaver, "leave", "lobby")
    else:
        rt.engine.disconnect(leaver)

    assert rt.received(watcher) == [
        {
            "action": "presence_update",
            "options": {"channel": "lobby"},
            "payload": {"action": "leave", "presence": leaver.client},
        }
    ]
    assert rt.join(watcher, "lobby", presence=True)[1]["payload"]["presence"] == [
        watcher.client
    ]


def test_rejoin_without_presence_is_announced_as_a_leave(rt):
    watcher, client = rt.connect(), rt.connect()
    rt.join(watcher, "lobby", presence=True)
    rt.join(client, "lobby", presence=True)
    rt.received(watcher)
    rt.join(client, "lobby", presence=False)
    assert [frame["payload"]["action"] for frame in rt.received(watcher)] == ["leave"]


def test_rejoin_with_presence_is_not_announced_twice(rt):
    watcher, client = rt.connect(), rt.connect()
    rt.join(watcher, "lobby", presence=True)
    rt.join(client, "lobby", presence=True)
    rt.join(client, "lobby", presence=True)
    assert len(rt.received(watcher)) == 1


def test_messages_carry_history_ids(rt):
    client = rt.connect()
    rt.join(client, "lobby")
    for text in ("a", "b"):
        rt.send(client, "message", "lobby", text)
    assert [frame["options"]["id"] for frame in rt.received(client)] == [1, 2]


def test_history_frame_comes_after_the_join_frame(rt):
    writer, reader = rt.connect(), rt.connect()
    rt.join(writer, "lobby")
    rt.send(writer, "message", "lobby", "first")
    rt.engine.publish_event(1, "lobby", {"kind": "event"})

    replies = rt.join(reader, "lobby", history=True)

    assert actions(replies) == ["join", "history"]
    message, event = replies[1]["payload"]["history"]
    assert message == {
        "action": "message",
        "options": {"channel": "lobby", "authenticated": False, "id": 1},
        "client": writer.client,
        "payload": "first",
        "id": 1,
        "created_at": message["created_at"],
    }
    assert message["created_at"] == rt.engine.now_ms()
    assert (event["id"], event["client"], event["payload"]) == (
        2,
        None,
        {"data": {"kind": "event"}},
    )


def test_history_keeps_the_rules_size(rt):
    client = rt.connect()
    rt.join(client, "lobby")
    for number in range(5):
        rt.send(client, "message", "lobby", number)
    (history,) = rt.send(client, "history", "lobby")
    assert [entry["payload"] for entry in history["payload"]["history"]] == [2, 3, 4]
    assert [entry["id"] for entry in history["payload"]["history"]] == [3, 4, 5]


def test_history_action_on_a_channel_without_history(rt):
    client = rt.connect()
    rt.join(client, "quiet")
    assert codes(rt.send(client, "history", "quiet")) == ["history_disabled"]
    assert actions(rt.join(client, "quiet", history=True)) == ["join"]


def test_channel_without_history_sends_no_ids(rt):
    client = rt.connect()
    rt.join(client, "quiet")
    rt.send(client, "message", "quiet", "x")
    assert rt.received(client)[0]["options"] == {
        "channel": "quiet",
        "authenticated": False,
    }


def test_direct_messages_are_not_kept(rt):
    sender, target = rt.connect(), rt.connect()
    rt.join(sender, "dm")
    rt.join(target, "dm")
    rt.send(sender, "message", "dm", "private", socketId=target.socket_id)
    (frame,) = rt.received(target)
    assert "id" not in frame["options"]
    assert rt.send(sender, "history", "dm")[0]["payload"]["history"] == []


def test_authenticated_only_entries_are_hidden_from_anonymous_readers(rt):
    alice, anonymous = rt.connect(ALICE), rt.connect()
    rt.join(alice, "lobby")
    rt.send(alice, "message", "lobby", "public")
    rt.send(alice, "message", "lobby", "members only", authenticated=True)
    rt.join(anonymous, "lobby")
    (history,) = rt.send(anonymous, "history", "lobby")
    assert [entry["payload"] for entry in history["payload"]["history"]] == ["public"]
    (history,) = rt.send(alice, "history", "lobby")
    assert len(history["payload"]["history"]) == 2


def test_anonymous_members_cannot_read_a_receive_authenticated_history(rt):
    anonymous = rt.connect()
    replies = rt.join(anonymous, "vip", history=True)
    assert replies[0]["payload"]["history"] is False
    assert codes(rt.send(anonymous, "history", "vip")) == ["auth_required"]


def test_since_replays_what_came_after_as_ordinary_frames(rt):
    writer, returning = rt.connect(), rt.connect()
    rt.join(writer, "lobby")
    for text in ("a", "b", "c"):
        rt.send(writer, "message", "lobby", text)
    rt.received(writer)

    replies = rt.join(returning, "lobby", since=1)

    assert actions(replies) == ["join", "message", "message"]
    assert [frame["payload"] for frame in replies[1:]] == ["b", "c"]
    assert replies[1] == {
        "action": "message",
        "options": {"channel": "lobby", "authenticated": False, "id": 2},
        "client": writer.client,
        "payload": "b",
    }


def test_since_the_last_id_replays_nothing(rt):
    client = rt.connect()
    rt.join(client, "lobby")
    rt.send(client, "message", "lobby", "a")
    assert actions(rt.join(client, "lobby", since=1)) == ["join"]


@pytest.mark.parametrize("since", [1, 99])
def test_since_an_id_no_longer_held_sends_the_whole_history(rt, since):
    client = rt.connect()
    rt.join(client, "lobby")
    for number in range(5):
        rt.send(client, "message", "lobby", number)

    replies = rt.join(client, "lobby", since=since, history=True)

    assert actions(replies) == ["join", "history"]
    assert [e["id"] for e in replies[1]["payload"]["history"]] == [3, 4, 5]


def test_replayed_frames_match_what_was_delivered(rt):
    writer, reader = rt.connect(), rt.connect()
    rt.join(writer, "lobby")
    rt.join(reader, "lobby")
    rt.send(writer, "message", "lobby", {"n": 1})
    rt.send(writer, "message", "lobby", {"n": 2})
    delivered = rt.received(reader)
    rt.send(reader, "leave", "lobby")

    replies = rt.join(reader, "lobby", since=delivered[0]["options"]["id"])

    assert replies[1:] == delivered[1:]
