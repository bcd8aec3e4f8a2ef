"""The engine's actions: connect, join, leave, message, direct messages, events."""

from __future__ import annotations

import pytest

from tests.harness import Harness, make_token
from webapp.realtime.errors import (
    ChannelNotAllowedError,
    ClosingError,
    InvalidChannelError,
    RealtimeDisabledError,
)
from webapp.realtime.rules import ChannelRule, WorkspaceSnapshot

ALICE = (7, "Alice")
BOB = (8, "Bob")


@pytest.fixture
def rt() -> Harness:
    return Harness(
        ChannelRule("chat", publish="any", direct="any"),
        ChannelRule("room:*", nested=True),
        ChannelRule("members", anonymous_allowed=False),
        ChannelRule("readonly", publish="off", direct="off"),
        ChannelRule("staff", publish="authenticated", direct="authenticated"),
        ChannelRule("vip", receive="authenticated", direct="any", history_size=10),
    )


def codes(frames: list[dict]) -> list[str]:
    return [frame["payload"]["code"] for frame in frames if frame["action"] == "error"]


def refusal(rt: Harness, **kwargs) -> ClosingError:
    with pytest.raises(ClosingError) as caught:
        rt.connect(**kwargs)
    return caught.value


def test_connect_builds_an_anonymous_client(rt):
    client = rt.connect()
    (joined,) = rt.join(client, "chat")
    assert joined["client"] == {
        "socketId": client.socket_id,
        "extras": {},
        "permissions": {"dbo_id": 0, "row_id": 0},
        "authenticated": False,
    }


def test_connect_with_a_token_builds_an_authenticated_client(rt):
    client = rt.connect(ALICE)
    (joined,) = rt.join(client, "chat")
    assert joined["client"] == {
        "socketId": client.socket_id,
        "extras": {"id": 7, "name": "Alice"},
        "permissions": {"dbo_id": 1, "row_id": 7},
        "authenticated": True,
    }


def test_socket_ids_are_unique(rt):
    assert len({rt.connect().socket_id for _ in range(50)}) == 50


@pytest.mark.parametrize("connection_hash", ["unknown", "", 42, "x" * 500])
def test_unknown_hash_is_refused_with_1008(rt, connection_hash):
    with pytest.raises(ClosingError) as caught:
        rt.engine.connect(connection_hash, None, rt.sink, None)
    assert (caught.value.code, caught.value.close_code) == ("invalid_hash", 1008)


def test_disabled_workspace_refuses_clients(rt):
    rt.change(enabled=False)
    error = refusal(rt)
    assert (error.code, error.close_code) == ("realtime_disabled", 1008)


@pytest.mark.parametrize(
    "token",
    ["garbage", make_token(2, 7, "Other workspace"), make_token(1, 7, "Old", ttl=-1)],
)
def test_bad_token_is_refused_with_1008(rt, token):
    error = refusal(rt, token=token)
    assert (error.code, error.close_code) == ("invalid_token", 1008)


def test_join_answers_with_what_was_granted(rt):
    client = rt.connect()
    (joined,) = rt.join(client, "chat", presence=True, history=True)
    assert joined["action"] == "join"
    assert joined["options"] == {"channel": "chat"}
    assert joined["payload"] == {"presence": False, "history": False}


def test_join_without_a_rule_is_not_allowed(rt):
    client = rt.connect()
    assert codes(rt.join(client, "elsewhere")) == ["channel_not_allowed"]


def test_nested_rule_allows_its_channels(rt):
    client = rt.connect()
    assert rt.join(client, "room:42")[0]["action"] == "join"


def test_anonymous_client_cannot_join_an_authenticated_channel(rt):
    assert codes(rt.join(rt.connect(), "members")) == ["auth_required"]
    assert rt.join(rt.connect(ALICE), "members")[0]["action"] == "join"


def test_joining_twice_keeps_one_member(rt):
    client, other = rt.connect(), rt.connect()
    rt.join(client, "chat")
    rt.join(client, "chat")
    rt.join(other, "chat")
    rt.send(other, "message", "chat", "once")
    assert [frame["payload"] for frame in rt.received(client)] == ["once"]
    assert rt.engine.workspace_stats(1)["channels"] == {"chat": 2}


def test_message_reaches_every_member_sender_included(rt):
    clients = [rt.connect() for _ in range(3)]
    for client in clients:
        rt.join(client, "chat")
    outsider = rt.connect()

    assert rt.send(clients[0], "message", "chat", {"text": "hi"}) == []

    for client in clients:
        (frame,) = rt.received(client)
        assert frame == {
            "action": "message",
            "options": {"channel": "chat", "authenticated": False},
            "client": clients[0].client,
            "payload": {"text": "hi"},
        }
    assert rt.received(outsider) == []


def test_channels_of_two_workspaces_are_separate(rt):
    rt.store.put(WorkspaceSnapshot(2, True, "hash-2", rules=(ChannelRule("chat"),)))
    first, second = rt.connect(), rt.connect(connection_hash="hash-2")
    rt.join(first, "chat")
    rt.join(second, "chat")
    rt.send(first, "message", "chat", "only workspace 1")
    assert len(rt.received(first)) == 1
    assert rt.received(second) == []


@pytest.mark.parametrize("action", ["message", "leave", "history"])
def test_actions_on_a_channel_not_joined_are_refused(rt, action):
    client = rt.connect()
    assert codes(rt.send(client, action, "chat", "x")) == ["not_joined"]


def test_publish_off_refuses_everyone(rt):
    client = rt.connect(ALICE)
    rt.join(client, "readonly")
    assert codes(rt.send(client, "message", "readonly", "x")) == ["publish_not_allowed"]


def test_publish_authenticated_refuses_anonymous_clients(rt):
    anonymous, alice = rt.connect(), rt.connect(ALICE)
    rt.join(anonymous, "staff")
    rt.join(alice, "staff")
    assert codes(rt.send(anonymous, "message", "staff", "x")) == ["publish_not_allowed"]
    assert rt.send(alice, "message", "staff", "x") == []


def test_authenticated_option_reaches_only_authenticated_members(rt):
    anonymous, alice, bob = rt.connect(), rt.connect(ALICE), rt.connect(BOB)
    for client in (anonymous, alice, bob):
        rt.join(client, "chat")

    rt.send(anonymous, "message", "chat", "secret", authenticated=True)

    assert rt.received(anonymous) == []
    for client in (alice, bob):
        (frame,) = rt.received(client)
        assert frame["options"] == {"channel": "chat", "authenticated": True}


def test_receive_authenticated_rule_keeps_anonymous_members_out(rt):
    anonymous, alice = rt.connect(), rt.connect(ALICE)
    rt.join(anonymous, "vip")
    rt.join(alice, "vip")
    rt.send(anonymous, "message", "vip", "hello")
    assert rt.received(anonymous) == []
    assert [frame["payload"] for frame in rt.received(alice)] == ["hello"]


def test_direct_message_reaches_only_its_target(rt):
    sender, target, bystander = rt.connect(), rt.connect(), rt.connect()
    for client in (sender, target, bystander):
        rt.join(client, "chat")

    rt.send(sender, "message", "chat", "psst", socketId=target.socket_id)

    (frame,) = rt.received(target)
    assert frame == {
        "action": "message",
        "options": {
            "channel": "chat",
            "authenticated": False,
            "socketId": target.socket_id,
        },
        "client": sender.client,
        "payload": "psst",
    }
    assert rt.received(sender) == [] and rt.received(bystander) == []


def test_direct_message_to_a_client_outside_the_channel_is_refused(rt):
    sender, stranger = rt.connect(), rt.connect()
    rt.join(sender, "chat")
    for target in (stranger.socket_id, "nobody"):
        reply = rt.send(sender, "message", "chat", "x", socketId=target)
        assert codes(reply) == ["unknown_client"]


def test_direct_off_refuses_direct_messages(rt):
    sender, target = rt.connect(), rt.connect()
    rt.join(sender, "readonly")
    rt.join(target, "readonly")
    reply = rt.send(sender, "message", "readonly", "x", socketId=target.socket_id)
    assert codes(reply) == ["publish_not_allowed"]


def test_direct_authenticated_refuses_anonymous_senders(rt):
    sender, target = rt.connect(), rt.connect(ALICE)
    rt.join(sender, "staff")
    rt.join(target, "staff")
    reply = rt.send(sender, "message", "staff", "x", socketId=target.socket_id)
    assert codes(reply) == ["publish_not_allowed"]


def test_direct_message_respects_who_may_receive(rt):
    alice, anonymous = rt.connect(ALICE), rt.connect()
    rt.join(alice, "vip")
    rt.join(anonymous, "vip")
    reply = rt.send(alice, "message", "vip", "x", socketId=anonymous.socket_id)
    assert codes(reply) == ["unknown_client"]


def test_leave_stops_delivery(rt):
    client, other = rt.connect(), rt.connect()
    rt.join(client, "chat")
    rt.join(other, "chat")
    (left,) = rt.send(client, "leave", "chat")
    assert left["action"] == "leave" and left["payload"] == {}

    rt.send(other, "message", "chat", "after")
    assert rt.received(client) == []
    assert codes(rt.send(client, "message", "chat", "x")) == ["not_joined"]


def test_disconnect_leaves_every_channel(rt):
    client, other = rt.connect(), rt.connect()
    for channel in ("chat", "room:1"):
        rt.join(client, channel)
    rt.join(other, "chat")
    rt.engine.disconnect(client)
    rt.engine.disconnect(client)
    assert rt.engine.workspace_stats(1) == {"connections": 1, "channels": {"chat": 1}}


def test_closed_connection_frames_are_ignored(rt):
    client = rt.connect()
    rt.engine.disconnect(client)
    assert rt.send(client, "join", "chat") == []


def test_publish_event_reaches_members_with_a_null_client(rt):
    client = rt.connect()
    rt.join(client, "chat")
    delivered = rt.engine.publish_event(1, "chat", {"score": 3})
    assert delivered == {
        "action": "event",
        "options": {"channel": "chat"},
        "client": None,
        "payload": {"data": {"score": 3}},
    }
    assert rt.received(client) == [delivered]


def test_publish_event_respects_receive_authenticated(rt):
    anonymous, alice = rt.connect(), rt.connect(ALICE)
    rt.join(anonymous, "vip")
    rt.join(alice, "vip")
    delivered = rt.engine.publish_event(1, "vip", "news")
    assert delivered["options"] == {"channel": "vip", "id": 1}
    assert rt.received(anonymous) == []
    assert rt.received(alice) == [delivered]


def test_publish_event_checks_channel_rules_and_realtime(rt):
    with pytest.raises(InvalidChannelError):
        rt.engine.publish_event(1, "bad channel", 1)
    with pytest.raises(ChannelNotAllowedError):
        rt.engine.publish_event(1, "elsewhere", 1)
    rt.change(enabled=False)
    with pytest.raises(RealtimeDisabledError):
        rt.engine.publish_event(1, "chat", 1)
    with pytest.raises(RealtimeDisabledError):
        rt.engine.publish_event(99, "chat", 1)


def test_workspace_stats_count_connections_and_members(rt):
    clients = [rt.connect() for _ in range(3)]
    rt.join(clients[0], "chat")
    rt.join(clients[1], "chat")
    rt.join(clients[1], "room:9")
    assert rt.engine.workspace_stats(1) == {
        "connections": 3,
        "channels": {"chat": 2, "room:9": 1},
    }
