"""Workspace limits: frame size, frames per second, connections, idle time."""

from __future__ import annotations

import json

import pytest

from tests.harness import Harness
from webapp.realtime.errors import ClosingError
from webapp.realtime.rules import ChannelRule, Limits


def harness(**limits) -> Harness:
    return Harness(ChannelRule("chat", presence=True), limits=Limits(**limits))


def codes(frames: list[dict]) -> list[str]:
    return [frame["payload"]["code"] for frame in frames if frame["action"] == "error"]


def message_text(size: int) -> str:
    frame = {"action": "message", "options": {"channel": "chat"}, "payload": ""}
    padding = size - len(json.dumps(frame, separators=(",", ":")))
    frame["payload"] = "x" * padding
    text = json.dumps(frame, separators=(",", ":"))
    assert len(text) == size
    return text


def test_frame_at_the_limit_is_accepted():
    rt = harness(max_frame_bytes=200)
    client = rt.connect()
    rt.join(client, "chat")
    assert rt.engine.receive(client, message_text(200)) == []


def test_frame_over_the_limit_gets_payload_too_large():
    rt = harness(max_frame_bytes=200)
    client = rt.connect()
    rt.join(client, "chat")
    replies = rt.engine.receive(client, message_text(201))
    assert codes([json.loads(reply.text) for reply in replies]) == ["payload_too_large"]
    assert not client.closed


def test_frame_size_counts_utf8_bytes():
    rt = harness(max_frame_bytes=200)
    client = rt.connect()
    rt.join(client, "chat")
    frame = {"action": "message", "options": {"channel": "chat"}, "payload": "é" * 80}
    replies = rt.engine.receive(client, json.dumps(frame, ensure_ascii=False))
    assert codes([json.loads(reply.text) for reply in replies]) == ["payload_too_large"]


def test_decoded_frames_are_measured_too():
    rt = harness(max_frame_bytes=200)
    client = rt.connect()
    rt.join(client, "chat")
    assert codes(rt.send(client, "message", "chat", "x" * 300)) == ["payload_too_large"]


def test_frame_far_over_the_limit_closes_with_1009():
    rt = harness(max_frame_bytes=200)
    watcher, client = rt.connect(), rt.connect()
    rt.join(watcher, "chat", presence=True)
    rt.join(client, "chat", presence=True)
    rt.received(watcher)

    assert rt.engine.receive(client, message_text(2000)) == []

    assert client.closed
    assert rt.sink.close_codes[client.socket_id] == 1009
    assert codes(rt.received(client)) == ["payload_too_large"]
    assert rt.received(watcher)[0]["payload"]["action"] == "leave"


def test_frames_over_the_rate_are_refused_with_a_retry_time():
    rt = harness(frames_per_second=4)
    client = rt.connect()
    rt.join(client, "chat")
    for _ in range(3):
        assert rt.send(client, "message", "chat", "ok") == []

    (error,) = rt.send(client, "message", "chat", "too many")

    assert error["payload"]["code"] == "rate_limited"
    assert error["payload"]["retry_after_ms"] == 250
    assert not client.closed


def test_rate_limit_refills_with_time():
    rt = harness(frames_per_second=2)
    client = rt.connect()
    rt.join(client, "chat")
    rt.send(client, "message", "chat", "ok")
    assert codes(rt.send(client, "message", "chat", "x")) == ["rate_limited"]
    rt.clock.advance(0.5)
    assert rt.send(client, "message", "chat", "ok") == []
    rt.clock.advance(10)
    assert rt.send(client, "message", "chat", "ok") == []
    assert rt.send(client, "message", "chat", "ok") == []
    assert codes(rt.send(client, "message", "chat", "x")) == ["rate_limited"]


def test_rate_limit_counts_every_frame_per_connection():
    rt = harness(frames_per_second=1)
    first, second = rt.connect(), rt.connect()
    assert codes(rt.send(first, "dance")) == ["invalid_frame"]
    assert codes(rt.send(first, "join", "chat")) == ["rate_limited"]
    assert rt.join(second, "chat")[0]["action"] == "join"


def test_connection_limit_refuses_with_1013_until_one_closes():
    rt = harness(max_connections=2)
    first, _ = rt.connect(), rt.connect()
    with pytest.raises(ClosingError) as caught:
        rt.connect()
    assert (caught.value.code, caught.value.close_code) == ("connection_limit", 1013)

    rt.engine.disconnect(first)
    rt.connect()


def test_idle_connections_are_closed_and_leave_their_channels():
    rt = harness(idle_timeout_seconds=60)
    idle, active = rt.connect(), rt.connect()
    rt.join(idle, "chat", presence=True)
    rt.join(active, "chat", presence=True)
    rt.received(idle)

    rt.clock.advance(45)
    rt.send(active, "message", "chat", "still here")
    rt.received(active)
    rt.clock.advance(30)

    assert rt.engine.sweep() == 1

    assert idle.closed and not active.closed
    assert rt.sink.close_codes[idle.socket_id] == 1000
    assert [frame["payload"]["action"] for frame in rt.received(active)] == ["leave"]
    assert rt.engine.workspace_stats(1)["connections"] == 1


def test_sweep_keeps_connections_within_the_timeout():
    rt = harness(idle_timeout_seconds=60)
    client = rt.connect()
    rt.clock.advance(60)
    assert rt.engine.sweep() == 0
    assert not client.closed


def test_changed_limits_apply_to_the_next_frame():
    rt = harness(frames_per_second=100)
    client = rt.connect()
    rt.join(client, "chat")
    rt.change(limits=Limits(frames_per_second=1, max_frame_bytes=100))
    assert codes(rt.send(client, "message", "chat", "x" * 150)) == ["payload_too_large"]
    rt.clock.advance(5)
    rt.send(client, "message", "chat", "ok")
    assert codes(rt.send(client, "message", "chat", "ok")) == ["rate_limited"]
