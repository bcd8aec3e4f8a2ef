"""Settings changes reach connected clients at once; frames never load settings."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from webapp.realtime.errors import ClosingError
from webapp.realtime.rules import ChannelRule

ALICE = (7, "Alice")
RULES = (
    ChannelRule("chat", presence=True, history_size=5),
    ChannelRule("room:*", nested=True),
    ChannelRule("room:vip:*", nested=True, presence=True),
)


@pytest.fixture
def rt() -> Harness:
    return Harness(*RULES)


def codes(frames: list[dict]) -> list[str]:
    return [frame["payload"]["code"] for frame in frames if frame["action"] == "error"]


def test_frames_never_load_settings(rt):
    client = rt.connect()
    loads = rt.store.loads
    rt.join(client, "chat", presence=True, history=True)
    for _ in range(5):
        rt.send(client, "message", "chat", "x")
    rt.send(client, "history", "chat")
    rt.connect()
    assert rt.store.loads == loads


def test_settings_load_again_once_every_client_is_gone(rt):
    client = rt.connect()
    loads = rt.store.loads
    rt.engine.disconnect(client)
    rt.connect()
    assert rt.store.loads == loads + 1


def test_realtime_off_disconnects_every_client(rt):
    first, second = rt.connect(), rt.connect(ALICE)
    rt.join(first, "chat", presence=True)

    rt.change(enabled=False)

    for client in (first, second):
        assert client.closed
        assert codes(rt.received(client)) == ["realtime_disabled"]
        assert rt.sink.close_codes[client.socket_id] == 1008
    with pytest.raises(ClosingError) as caught:
        rt.connect()
    assert caught.value.code == "realtime_disabled"


def test_deleted_workspace_disconnects_like_disabled(rt):
    client = rt.connect()
    rt.join(client, "chat")
    rt.send(client, "message", "chat", "kept until deleted")

    rt.store.delete(1)
    rt.engine.workspace_changed(1)

    assert codes(rt.received(client)) == ["realtime_disabled"]
    assert rt.sink.close_codes[client.socket_id] == 1008
    assert rt.backend.history(1, "chat") == []
    assert rt.engine.workspace_stats(1) == {"connections": 0, "channels": {}}


def test_regenerated_hash_disconnects_clients_of_the_old_one(rt):
    old = rt.connect()
    rt.change(connection_hash="fresh-hash")

    assert codes(rt.received(old)) == ["invalid_hash"]
    assert rt.sink.close_codes[old.socket_id] == 1008
    with pytest.raises(ClosingError) as caught:
        rt.connect(connection_hash="hash-1")
    assert caught.value.code == "invalid_hash"
    assert not rt.connect(connection_hash="fresh-hash").closed


def test_members_of_a_channel_no_rule_matches_are_removed(rt):
    member, bystander = rt.connect(), rt.connect()
    rt.join(member, "chat")
    rt.join(member, "room:1")
    rt.join(bystander, "room:2")

    rt.change(rules=RULES[1:])

    assert rt.received(member) == [
        {
            "action": "error",
            "options": {"channel": "chat"},
            "payload": {
                "code": "channel_not_allowed",
                "message": "No channel rule of this workspace allows that channel.",
            },
        }
    ]
    assert not member.closed
    assert codes(rt.send(member, "message", "chat", "x")) == ["not_joined"]
    assert rt.send(member, "message", "room:1", "still here") == []
    assert rt.received(bystander) == []


def test_others_see_the_removed_members_leave(rt):
    vip, other = rt.connect(), rt.connect()
    rt.join(vip, "room:vip:1", presence=True)
    rt.join(other, "room:vip:1", presence=True)
    rt.received(vip)

    rt.change(rules=(RULES[0],))

    assert codes(rt.received(vip)) == ["channel_not_allowed"]
    assert codes(rt.received(other)) == ["channel_not_allowed"]
    assert rt.engine.workspace_stats(1)["channels"] == {}


def test_members_stay_when_a_broader_rule_still_matches(rt):
    client = rt.connect()
    rt.join(client, "room:vip:1")
    rt.change(rules=RULES[:2])
    assert rt.received(client) == []
    assert rt.send(client, "message", "room:vip:1", "x") == []


def test_changed_rule_applies_to_the_next_frame(rt):
    client = rt.connect()
    rt.join(client, "chat")
    rt.send(client, "message", "chat", "allowed")
    rt.change(rules=(ChannelRule("chat", publish="off"),))
    assert codes(rt.send(client, "message", "chat", "x")) == ["publish_not_allowed"]
    assert codes(rt.send(client, "history", "chat")) == ["history_disabled"]


def test_anonymous_members_are_removed_when_a_channel_requires_auth(rt):
    anonymous, alice = rt.connect(), rt.connect(ALICE)
    rt.join(anonymous, "chat", presence=True)
    rt.join(alice, "chat", presence=True)
    rt.received(anonymous)

    rt.change(rules=(ChannelRule("chat", presence=True, anonymous_allowed=False),))

    assert codes(rt.received(anonymous)) == ["auth_required"]
    assert rt.received(alice) == [
        {
            "action": "presence_update",
            "options": {"channel": "chat"},
            "payload": {"action": "leave", "presence": anonymous.client},
        }
    ]


def test_change_of_a_workspace_without_clients_loads_nothing(rt):
    loads = rt.store.loads
    rt.engine.workspace_changed(1)
    assert rt.store.loads == loads
