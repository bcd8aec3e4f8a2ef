"""Hostile input to the realtime side: channel names, direct messages, tokens, JSON.

Channel names that only look like allowed ones, names with ``*`` or path
tricks, direct messages aimed outside the channel or the workspace, and auth
tokens that are forged, expired or not strings at all are tried over both
transports of a live server (memory and Redis backends). JSON that Python
accepts but clients cannot read (NaN, Infinity, lone surrogates, deep
nesting) is refused by the core before it reaches anyone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import websocket
from itsdangerous import URLSafeSerializer

from tests.harness import Harness
from tests.test_socketio_rt import (
    LIVE_SECRET_KEY,
    Live,
    RtClient,
    Seeded,
    code,
    run_live,
)
from tests.ws_client import WsTestClient
from webapp.extensions import db
from webapp.models import Builder, ChannelRule, Workspace
from webapp.realtime.codec import MAX_NESTING
from webapp.realtime.rules import ChannelRule as Rule
from webapp.tokens import InvalidTokenError, issue_token, verify_token

RULES = (
    {"name": "marvel-chat-room", "presence": True, "direct": "any"},
    {"name": "lobby", "direct": "any"},
    {"name": "room:*", "nested": True, "direct": "any"},
)
TRANSPORTS = ("ws", "sio")


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request, tmp_path_factory) -> Iterator[Live]:
    yield from run_live(request.param, tmp_path_factory)


@pytest.fixture
def workspace(live) -> Seeded:
    return live.seeder.workspace(*RULES)


@pytest.fixture
def connect(live) -> Iterator[Callable[..., Any]]:
    """Open clients over either transport; all are closed after the test."""
    opened: list[Any] = []

    def open_client(workspace: Seeded, transport: str = "ws", token: Any = None):
        kind = WsTestClient if transport == "ws" else RtClient
        client = kind(live.server.url, workspace.connection_hash, token)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def messages(frames: list[dict[str, Any]]) -> list[Any]:
    return [frame["payload"] for frame in frames if frame["action"] == "message"]


# Channel names.

HOSTILE_NAMES = [
    # Cyrillic "о" (U+043E) and "а" (U+0430) look like their Latin letters.
    "marvel-chat-r\u043eom",
    "m\u0430rvel-chat-room",
    # Fullwidth letters and a zero-width space.
    "\uff4d\uff41\uff52\uff56\uff45\uff4c-chat-room",
    "marvel-chat-room\u200b",
    "marvel-chat-room ",
    "marvel-chat-room\x00",
    "marvel-chat-room\n",
    "room:\x1b[31m",
    # "*" is a rule's wildcard, never part of a client's channel name.
    "*",
    "room:*",
    "marvel-chat-*",
    "room:1\\..\\x",
    "x" * 256,
    "room:" + "x" * 251,
    "",
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_channel_names_are_invalid(connect, workspace, transport, name):
    client = connect(workspace, transport)

    client.send("join", name, {"presence": True})
    client.send("message", name, "hello")

    assert [code(client.next()) for _ in range(2)] == ["invalid_channel"] * 2
    assert client.drain() == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "name", ["MARVEL-CHAT-ROOM", "marvel-chat-room2", "marvel-chat", "room", "lobby:1"]
)
def test_names_near_a_rule_are_not_allowed(connect, workspace, transport, name):
    client = connect(workspace, transport)

    client.send("join", name)

    assert code(client.next()) == "channel_not_allowed"


def test_star_channel_reaches_no_member_of_the_nested_rule(connect, workspace):
    member = connect(workspace, "sio")
    member.join("room:1")
    intruder = connect(workspace)

    intruder.send("join", "room:*")
    intruder.send("message", "room:*", "to every room?")
    intruder.send("history", "room:*")

    assert [code(intruder.next()) for _ in range(3)] == ["invalid_channel"] * 3
    assert member.drain() == []


@pytest.mark.parametrize("name", ["room:../lobby", "room:/lobby", "room:..", "room:"])
def test_path_tricks_under_a_nested_rule_stay_literal_channels(
    connect, workspace, name
):
    in_lobby, in_room = connect(workspace), connect(workspace, "sio")
    in_lobby.join("lobby")
    in_room.join("room:lobby")
    sender = connect(workspace)
    assert sender.join(name)["options"] == {"channel": name}

    sender.send("message", name, "where does this go?")

    assert messages([sender.expect("message")]) == ["where does this go?"]
    assert in_lobby.drain() == []
    assert in_room.drain() == []


# Workspaces and direct messages.


@pytest.mark.parametrize(("sender_kind", "reader_kind"), [("ws", "sio"), ("sio", "ws")])
def test_same_channel_name_in_another_workspace_is_another_channel(
    live, connect, workspace, sender_kind, reader_kind
):
    other = live.seeder.workspace(*RULES)
    reader = connect(other, reader_kind)
    reader.join("marvel-chat-room", presence=True)
    reader.expect("presence_full")
    sender = connect(workspace, sender_kind)

    sender.join("marvel-chat-room", presence=True)
    sender.expect("presence_full")
    sender.send("message", "marvel-chat-room", "only for my workspace")

    assert messages([sender.expect("message")]) == ["only for my workspace"]
    assert reader.drain() == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "target", ["other_workspace", "other_channel", "not_joined", "made_up"]
)
def test_direct_message_outside_the_channel_reaches_no_one(
    live, connect, workspace, transport, target
):
    channel = "marvel-chat-room"
    bystander = connect(workspace, "sio")
    bystander.join(channel)
    if target == "other_workspace":
        victim = connect(live.seeder.workspace(*RULES), "ws")
        socket_id = victim.join(channel)["client"]["socketId"]
    elif target == "other_channel":
        victim = connect(workspace, "ws")
        socket_id = victim.join("lobby")["client"]["socketId"]
    elif target == "not_joined":
        victim = connect(workspace, "ws")
        socket_id = victim.join("lobby")["client"]["socketId"]
        victim.send("leave", "lobby")
        victim.expect("leave")
    else:
        victim = bystander
        socket_id = "x" * 16
    sender = connect(workspace, transport)
    sender.join(channel)

    sender.send("message", channel, "psst", socketId=socket_id)

    error = sender.next()
    assert code(error) == "unknown_client"
    assert error["options"] == {"channel": channel}
    assert victim.drain() == []
    assert bystander.drain() == []


# Auth tokens.


def _tampered(token: str) -> str:
    """Return the token with its payload changed and its signature kept."""
    payload, signature = token.rsplit(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["u"] = claims["u"] + 1
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return forged.decode() + "." + signature


def _unsigned(claims: dict[str, Any]) -> str:
    data = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return data.decode()


def bad_token(kind: str, workspace: Seeded, other: Seeded) -> Any:
    """Return a token of ``kind`` that must not authenticate in ``workspace``."""
    claims = {"w": workspace.id, "u": 1, "n": "Loki", "e": 4_000_000_000}
    jwt_header = _unsigned({"alg": "none", "typ": "JWT"})
    tokens = {
        "expired": lambda: issue_token(LIVE_SECRET_KEY, workspace.id, 1, "Loki", -60),
        "tampered": lambda: _tampered(
            issue_token(LIVE_SECRET_KEY, workspace.id, 1, "Loki", 3600)
        ),
        "other_key": lambda: issue_token("not-the-key", workspace.id, 1, "Loki", 3600),
        "other_workspace": lambda: issue_token(
            LIVE_SECRET_KEY, other.id, 1, "Loki", 3600
        ),
        "alg_none": lambda: f"{jwt_header}.{_unsigned(claims)}.",
        "unsigned": lambda: _unsigned(claims),
        "empty_signature": lambda: _unsigned(claims) + ".",
        "salt_free": lambda: URLSafeSerializer(LIVE_SECRET_KEY).dumps(claims),
        "garbage": lambda: "garbage.token.value",
        "long": lambda: "a" * 3000,
    }
    return tokens[kind]()


TOKEN_KINDS = [
    "expired",
    "tampered",
    "other_key",
    "other_workspace",
    "alg_none",
    "unsigned",
    "empty_signature",
    "salt_free",
    "garbage",
    "long",
]


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_bad_tokens_are_refused_over_websocket_with_1008(
    live, connect, workspace, kind
):
    token = bad_token(kind, workspace, live.seeder.workspace(*RULES))

    client = connect(workspace, "ws", token)

    assert code(client.next()) == "invalid_token"
    assert client.wait_disconnected()
    assert client.close_code == 1008


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_bad_tokens_are_refused_over_socketio(live, connect, workspace, kind):
    token = bad_token(kind, workspace, live.seeder.workspace(*RULES))

    client = connect(workspace, "sio", token)

    assert code(client.next()) == "invalid_token"
    assert client.wait_disconnected()


@pytest.mark.parametrize(
    "token",
    [5, 0, 1.5, True, False, [], ["token"], {}, {"w": 1}, "\u00e9t\u00e9", "\ud800"],
    ids=repr,
)
def test_tokens_that_are_not_ascii_strings_are_refused_over_socketio(
    connect, workspace, token
):
    client = connect(workspace, "sio", token)

    assert code(client.next()) == "invalid_token"
    assert client.wait_disconnected()


@pytest.mark.parametrize("value", ["two words", '"quoted"', "a/b", "semi;colon"])
def test_subprotocol_that_is_no_token_is_refused_at_the_handshake(
    live, workspace, value
):
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": value,
    }
    url = f"{live.server.url}/rt/{workspace.connection_hash}"

    with requests.get(url, headers=headers, timeout=10) as response:
        assert response.status_code == 400
        assert response.json()["error"] == "bad_request"


def test_invalid_utf8_text_closes_with_1007_and_spares_the_others(connect, workspace):
    member = connect(workspace, "sio")
    member.join("lobby")
    client = connect(workspace)
    client.join("lobby")

    client.ws.send(b'\xff\xfe{"action"', opcode=websocket.ABNF.OPCODE_TEXT)

    assert client.wait_disconnected()
    assert client.close_code == 1007
    member.send("message", "lobby", "still here")
    assert messages([member.expect("message")]) == ["still here"]


# Socket.IO events other than rt.


def test_event_named_connect_admits_no_second_connection(live, connect):
    limited = live.seeder.workspace(*RULES, max_connections=2)
    client = connect(limited, "sio")
    client.join("lobby")

    for _ in range(3):
        auth = {"hash": limited.connection_hash, "token": None}
        client.sio.emit("connect", ({}, auth), namespace="/rt")

    assert [code(client.next()) for _ in range(3)] == ["invalid_frame"] * 3
    assert connect(limited, "ws").join("lobby")["action"] == "join"
    client.send("message", "lobby", "still a member")
    assert messages([client.expect("message")]) == ["still a member"]


def test_event_named_disconnect_leaves_the_client_connected(connect, workspace):
    watcher, client = connect(workspace, "ws"), connect(workspace, "sio")
    watcher.join("marvel-chat-room", presence=True)
    watcher.expect("presence_full")
    client.join("marvel-chat-room", presence=True)
    client.expect("presence_full")
    watcher.expect("presence_update")

    client.sio.emit("disconnect", "transport close", namespace="/rt")

    assert code(client.next()) == "invalid_frame"
    client.send("message", "marvel-chat-room", "not gone")
    assert messages([client.expect("message")]) == ["not gone"]
    assert messages(watcher.drain()) == ["not gone"]


@pytest.mark.parametrize("event", ["message", "join", "", "RT", "rt ", "on_rt"])
def test_events_of_other_names_get_invalid_frame(connect, workspace, event):
    client = connect(workspace, "sio")

    client.sio.emit(event, {"action": "join", "options": {"channel": "lobby"}}, "/rt")

    assert code(client.next()) == "invalid_frame"
    assert client.join("lobby")["action"] == "join"


@pytest.mark.parametrize("packet", ['2/rt,[123,{"a":1}]', "2/rt,[null]", "2/rt,[[]]"])
def test_events_with_names_that_are_not_strings_get_invalid_frame(
    connect, workspace, packet
):
    client = connect(workspace, "sio")

    client.sio.eio.send(packet)

    assert code(client.next()) == "invalid_frame"
    assert client.join("lobby")["action"] == "join"


@pytest.mark.parametrize(
    "packet",
    ['2/rt,["rt", {"action"', "2/rt," + "[" * 5000 + "]" * 5000, "2/nowhere,[1]"],
    ids=["broken", "deep", "namespace"],
)
def test_packets_socketio_cannot_decode_leave_the_connection_open(
    connect, workspace, packet
):
    client = connect(workspace, "sio")

    client.sio.eio.send(packet)

    # Dropped by python-socketio unanswered: the next frame is the join's.
    assert client.join("lobby")["action"] == "join"


# JSON no client could read, refused by the core on both paths.

_TEXT_FRAMES = {
    "nan": '{"action":"message","options":{"channel":"chat"},"payload":NaN}',
    "infinity": '{"action":"message","options":{"channel":"chat"},"payload":Infinity}',
    "overflow": '{"action":"message","options":{"channel":"chat"},"payload":-1e999}',
    "long_float": '{"action":"message","options":{"channel":"chat"},"payload":'
    + "9" * 400
    + ".5}",
    "lone_surrogate": '{"action":"message","options":{"channel":"chat"},'
    '"payload":{"text":"\\ud800"}}',
    "surrogate_key": '{"action":"message","options":{"channel":"chat"},'
    '"payload":{"\\udfff":1}}',
    "surrogate_socket_id": '{"action":"message","options":{"channel":"chat",'
    '"socketId":"\\uDBFF"},"payload":1}',
    "deep": '{"action":"message","options":{"channel":"chat"},"payload":'
    + "[" * MAX_NESTING
    + "]" * MAX_NESTING
    + "}",
    "very_deep": "[" * 5000 + "]" * 5000,
}

_DECODED_PAYLOADS = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "lone_surrogate": {"text": "\ud800"},
    "surrogate_key": {"\udfff": 1},
    "deep": json.loads("[" * MAX_NESTING + "]" * MAX_NESTING),
    "bytes": b"\x00\x01",
    "set": {1, 2},
}


@pytest.fixture
def rt() -> Harness:
    return Harness(Rule("chat", history_size=10))


@pytest.mark.parametrize("kind", list(_TEXT_FRAMES))
def test_text_frames_clients_could_not_read_are_invalid(rt, kind):
    sender, member = rt.connect(), rt.connect()
    rt.join(sender, "chat")
    rt.join(member, "chat")
    rt.received(member)

    replies = rt.engine.receive(sender, _TEXT_FRAMES[kind])

    assert [json.loads(reply.text)["payload"]["code"] for reply in replies] == [
        "invalid_frame"
    ]
    assert rt.received(member) == []
    assert rt.backend.history(rt.snapshot.id, "chat") == []


@pytest.mark.parametrize("kind", list(_DECODED_PAYLOADS))
def test_decoded_frames_clients_could_not_read_are_invalid(rt, kind):
    sender, member = rt.connect(), rt.connect()
    rt.join(sender, "chat")
    rt.join(member, "chat")
    rt.received(member)

    replies = rt.send(sender, "message", "chat", _DECODED_PAYLOADS[kind])

    assert [reply["payload"]["code"] for reply in replies] == ["invalid_frame"]
    assert rt.received(member) == []


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud83d\\ude00 a pair is one character"',
        "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1),
        "1e308",
        '"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["',
    ],
)
def test_frames_at_the_edge_of_what_is_readable_are_delivered(rt, text):
    sender, member = rt.connect(), rt.connect()
    rt.join(sender, "chat")
    rt.join(member, "chat")
    rt.received(member)
    frame = '{"action":"message","options":{"channel":"chat"},"payload":' + text + "}"

    assert rt.engine.receive(sender, frame) == []

    (delivered,) = rt.received(member)
    assert delivered["payload"] == json.loads(text)


@pytest.mark.parametrize("token", ["\ud800", "t\u00f6ken.sig", "\U0001f600.sig"])
def test_non_ascii_tokens_are_malformed(token):
    with pytest.raises(InvalidTokenError, match="malformed"):
        verify_token(LIVE_SECRET_KEY, token, 1)


# Server-side events get the same checks as clients' frames.


@pytest.fixture
def event_group(app) -> tuple[str, dict[str, str]]:
    with app.app_context():
        workspace = Workspace(
            owner=Builder(email="events@example.com", password_hash="!"),
            name="Events",
            realtime_enabled=True,
            realtime_state="ready",
            channel_rules=[ChannelRule(name="room:*", nested=True)],
        )
        key = workspace.rotate_server_key()
        db.session.add(workspace)
        db.session.commit()
        url = f"/api:{workspace.api_group_key}/realtime/event"
    return url, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"channel": "room:*", "data": 1}', "invalid_channel"),
        ('{"channel": "room:\\u0430", "data": 1}', "invalid_channel"),
        ('{"channel": "room:1", "data": NaN}', "invalid_input"),
        ('{"channel": "room:1", "data": [1e999]}', "invalid_input"),
        ('{"channel": "room:1", "data": "\\ud800"}', "invalid_input"),
        (
            '{"channel": "room:1", "data": ' + "[" * 100 + "]" * 100 + "}",
            "invalid_input",
        ),
    ],
)
def test_events_clients_could_not_read_are_refused(client, event_group, body, error):
    url, headers = event_group

    response = client.post(url, data=body, headers=headers)

    assert response.status_code == 422
    assert response.json["error"] == error
    assert response.json["message"]
