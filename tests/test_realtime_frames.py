"""Frame envelopes: a bad frame gets an error frame, never a crash or a close."""

from __future__ import annotations

import json

import pytest

from tests.harness import Harness
from webapp.realtime.errors import (
    ConnectionLimitError,
    InvalidFrameError,
    RateLimitedError,
    RealtimeError,
)
from webapp.realtime.frames import validate_frame
from webapp.realtime.rules import ChannelRule


@pytest.fixture
def rt() -> Harness:
    return Harness(ChannelRule("chat"))


def error_code(frames: list[dict]) -> str:
    (frame,) = frames
    assert frame["action"] == "error"
    return frame["payload"]["code"]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '"join"',
        "{}",
        '{"action": "dance", "options": {"channel": "chat"}}',
        '{"action": 5, "options": {"channel": "chat"}}',
        '{"action": "join", "options": []}',
        '{"action": "join", "options": {"channel": 5}}',
        '{"action": "message", "options": {"channel": "chat", "socketId": 5}}',
        '{"action": "message", "options": {"channel": "chat", "authenticated": 1}}',
        '{"action": "join", "options": {"channel": "chat"}, "payload": []}',
        *(
            '{"action": "join", "options": {"channel": "chat"}, "payload": ' + p + "}"
            for p in (
                '{"presence": 1}',
                '{"history": "y"}',
                '{"since": "3"}',
                '{"since": true}',
                '{"since": -1}',
            )
        ),
    ],
)
def test_bad_envelope_is_invalid_frame(rt, text):
    client = rt.connect()
    replies = rt.engine.receive(client, text)
    assert error_code([json.loads(reply.text) for reply in replies]) == "invalid_frame"
    assert not client.closed


@pytest.mark.parametrize("channel", ["", "x" * 256, "has space", "émoji", None])
def test_bad_channel_name_is_invalid_channel(rt, channel):
    client = rt.connect()
    options = {} if channel is None else {"channel": channel}
    replies = rt.engine.receive(client, {"action": "join", "options": options})
    assert error_code([json.loads(reply.text) for reply in replies]) == (
        "invalid_channel"
    )


def test_decoded_frames_are_checked_the_same_way(rt):
    client = rt.connect()
    assert error_code(rt.send(client, "dance", "chat")) == "invalid_frame"


def test_frame_that_is_not_json_serializable_is_invalid(rt):
    client = rt.connect()
    replies = rt.engine.receive(client, {"action": "message", "payload": b"\x00"})
    assert error_code([json.loads(reply.text) for reply in replies]) == "invalid_frame"


def test_options_and_payload_may_be_left_out_of_a_join():
    frame = validate_frame({"action": "join", "options": {"channel": "chat"}})
    assert (frame.action, frame.channel, frame.payload) == ("join", "chat", None)


def test_message_payload_may_be_any_json_value(rt):
    client = rt.connect()
    rt.join(client, "chat")
    for payload in ([1, "two"], "text", 3.5, None, {"nested": {"deep": [True]}}):
        assert rt.send(client, "message", "chat", payload) == []
        (frame,) = rt.received(client)
        assert frame["payload"] == payload


def test_error_frame_names_the_channel_where_one_applies(rt):
    client = rt.connect()
    (frame,) = rt.send(client, "message", "chat", "hi")
    assert frame == {
        "action": "error",
        "options": {"channel": "chat"},
        "payload": {"code": "not_joined", "message": "Join the channel first."},
    }


def test_error_frame_without_a_channel_has_empty_options():
    assert InvalidFrameError("Bad.").to_frame() == {
        "action": "error",
        "options": {},
        "payload": {"code": "invalid_frame", "message": "Bad."},
    }


def test_rate_limited_error_says_when_to_retry():
    payload = RateLimitedError(250).to_frame()["payload"]
    assert payload["code"] == "rate_limited"
    assert payload["retry_after_ms"] == 250


def test_closing_errors_carry_close_codes():
    assert ConnectionLimitError().close_code == 1013
    assert ConnectionLimitError().code == "connection_limit"
    assert issubclass(ConnectionLimitError, RealtimeError)
