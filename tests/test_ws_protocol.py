"""The plain WebSocket endpoint ``/rt/<hash>`` against a real server process.

Every frame, error and close code of the protocol over a plain WebSocket, on
the memory backend and on Redis, and one channel shared with Socket.IO clients.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.live import ServerProcess
from tests.test_socketio_rt import (
    RULES,
    Live,
    RtClient,
    Seeded,
    Seeder,
    code,
    server_env,
)
from tests.ws_client import WsTestClient

pytestmark = pytest.mark.live

PING_INTERVAL = 1


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request, tmp_path_factory) -> Iterator[Live]:
    """One server per backend, pinging idle WebSocket clients every second."""
    env = {**server_env(request.param), "WS_PING_INTERVAL_SECONDS": str(PING_INTERVAL)}
    instance = tmp_path_factory.mktemp(request.param) / "instance"
    server = ServerProcess(instance, env=env).start()
    seeder = Seeder(instance)
    yield Live(server, seeder)
    seeder.close()
    server.stop()


@pytest.fixture
def workspace(live) -> Seeded:
    return live.seeder.workspace(*RULES)


@pytest.fixture
def connect(live) -> Iterator[Callable[..., Any]]:
    """Open plain WebSocket (default) or Socket.IO clients; close them after."""
    opened: list[Any] = []

    def open_client(
        workspace: Seeded, token: str | None = None, transport: str = "ws"
    ) -> Any:
        kind = WsTestClient if transport == "ws" else RtClient
        client = kind(live.server.url, workspace.connection_hash, token)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def test_token_subprotocol_is_selected_and_authenticates(live, connect, workspace):
    token = live.seeder.token(workspace, 7, "Tony")
    client = connect(workspace, token)

    # websocket-client reports the selected subprotocol lower-cased.
    assert client.subprotocol == token.lower()
    joined = client.join("members")
    assert joined["client"]["authenticated"] is True
    assert joined["client"]["extras"] == {"id": 7, "name": "Tony"}


def test_no_subprotocol_means_an_anonymous_client(connect, workspace):
    client = connect(workspace)

    assert client.subprotocol is None
    client.send("join", "members", {})
    assert code(client.next()) == "auth_required"


def test_plain_http_request_is_refused_with_400(live, workspace):
    with requests.get(f"{live.server.url}/rt/{workspace.connection_hash}") as response:
        status = response.status_code

    assert status == 400


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"hash": "no-such-hash"}, "invalid_hash"),
        ({"disabled": True}, "realtime_disabled"),
        ({"token": "garbage.token.value"}, "invalid_token"),
        ({"other_token": True}, "invalid_token"),
    ],
)
def test_refused_connections_get_an_error_frame_then_1008(
    live, connect, workspace, fields, expected
):
    target = workspace
    token = fields.get("token")
    if fields.get("disabled"):
        target = live.seeder.workspace(*RULES, realtime_enabled=False)
    if fields.get("other_token"):
        token = live.seeder.token(live.seeder.workspace(*RULES), 1, "Elsewhere")
    if "hash" in fields:
        target = Seeded(0, fields["hash"], "", "", "")

    client = connect(target, token)

    assert code(client.next()) == expected
    assert client.wait_disconnected()
    assert client.close_code == 1008


def test_connection_limit_closes_with_1013(live, connect):
    limited = live.seeder.workspace(*RULES, max_connections=1)
    first = connect(limited)
    first.join("chat")

    second = connect(limited)

    assert code(second.next()) == "connection_limit"
    assert second.wait_disconnected()
    assert second.close_code == 1013


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '"a string"',
        "null",
        '{"action": "dance", "options": {"channel": "chat"}}',
        '{"action": "join", "options": {"channel": 5}}',
        '{"action": "join", "options": "chat"}',
        '{"action": "join", "options": {"channel": "chat"}, "payload": {"since": "x"}}',
    ],
)
def test_bad_frames_get_invalid_frame_and_the_connection_stays(
    connect, workspace, text
):
    client = connect(workspace)

    client.send_text(text)

    assert code(client.next()) == "invalid_frame"
    assert client.join("chat")["options"] == {"channel": "chat"}


def test_binary_message_gets_invalid_frame(connect, workspace):
    client = connect(workspace)

    client.ws.send_binary(b'{"action": "join"}')

    assert code(client.next()) == "invalid_frame"
    assert client.join("chat")["payload"] == {"presence": False, "history": False}


def test_frame_over_the_limit_gets_an_error_and_stays_open(live, connect):
    small = live.seeder.workspace(*RULES, max_frame_bytes=1000)
    client = connect(small)
    client.join("chat")

    client.send("message", "chat", "x" * 1500)

    assert code(client.next()) == "payload_too_large"
    client.send("message", "chat", "small")
    assert client.expect("message")["payload"] == "small"


def test_frame_far_over_the_limit_closes_with_1009(live, connect):
    small = live.seeder.workspace(*RULES, max_frame_bytes=1000)
    client = connect(small)

    client.send("message", "chat", "x" * 10_000)

    assert code(client.next()) == "payload_too_large"
    assert client.wait_disconnected()
    assert client.close_code == 1009


def test_server_never_sends_connection_status(connect, workspace):
    client = connect(workspace)
    client.join("chat", presence=True, history=True)

    frames = client.drain()

    assert [frame["action"] for frame in frames] == ["presence_full", "history"]


def test_every_action_round_trips(connect, workspace):
    alice, bob = connect(workspace), connect(workspace)
    alice_id = alice.join("chat", presence=True, history=True)["client"]["socketId"]
    bob_id = bob.join("chat", presence=True)["client"]["socketId"]
    alice.send("message", "chat", {"text": "to all"})
    alice_before = alice.drain()
    bob.send("message", "chat", "just you", socketId=alice_id)
    bob.send("history", "chat")
    bob.send("leave", "chat")

    bob_frames = bob.drain()
    alice_after = alice.drain()

    assert [f["action"] for f in alice_before] == [
        "presence_full",
        "history",
        "presence_update",
        "message",
    ]
    assert [f["action"] for f in bob_frames] == [
        "presence_full",
        "message",
        "history",
        "leave",
    ]
    history = bob_frames[2]["payload"]["history"]
    assert [entry["payload"] for entry in history] == [{"text": "to all"}]
    assert [f["action"] for f in alice_after] == ["message", "presence_update"]
    direct = alice_after[0]
    assert direct["payload"] == "just you"
    assert direct["options"]["socketId"] == alice_id
    assert direct["client"]["socketId"] == bob_id
    assert alice_after[1]["payload"]["action"] == "leave"


def test_client_closing_leaves_presence(connect, workspace):
    watcher, leaver = connect(workspace), connect(workspace)
    watcher.join("chat", presence=True)
    leaver_id = leaver.join("chat", presence=True)["client"]["socketId"]
    watcher.drain()

    leaver.close()

    update = watcher.expect("presence_update")
    assert update["payload"]["action"] == "leave"
    assert update["payload"]["presence"]["socketId"] == leaver_id


def test_dead_peer_is_dropped_and_leaves_presence(live, connect, workspace):
    watcher = connect(workspace)
    watcher.join("chat", presence=True)
    watcher.drain()
    silent = _silent_client(live.server.port, workspace.connection_hash)

    started = time.monotonic()
    update = watcher.expect("presence_update")
    assert update["payload"]["action"] == "join"
    update = watcher.expect("presence_update")

    assert update["payload"]["action"] == "leave"
    # Bounded: two ping intervals without an answer, plus scheduling slack.
    assert time.monotonic() - started < 10 * PING_INTERVAL + 10
    silent.close()


def _silent_client(port: int, connection_hash: str) -> socket.socket:
    """Join with presence, then never read or answer again (a vanished peer)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET /rt/{connection_hash} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in sock.recv(4096)
    frame = json.dumps(
        {
            "action": "join",
            "options": {"channel": "chat"},
            "payload": {"presence": True},
        }
    ).encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(frame))
    sock.sendall(bytes([0x81, 0x80 | len(frame)]) + mask + masked)
    return sock


def test_one_channel_two_transports(connect, workspace):
    plain, sio = connect(workspace), connect(workspace, transport="socketio")
    plain_id = plain.join("chat", presence=True, history=True)["client"]["socketId"]
    sio_id = sio.join("chat", presence=True)["client"]["socketId"]
    full = sio.expect("presence_full")["payload"]["presence"]
    assert {member["socketId"] for member in full} == {plain_id, sio_id}

    sio.send("message", "chat", {"from": "socket.io"})
    sio_frames = sio.drain()
    plain.send("message", "chat", "to socket.io only", socketId=sio_id)
    plain.send("message", "chat", {"from": "websocket"})

    plain_frames = plain.drain()
    sio_frames += sio.drain()
    plain_messages = [f for f in plain_frames if f["action"] == "message"]
    sio_messages = [f for f in sio_frames if f["action"] == "message"]
    assert [f["payload"] for f in plain_messages] == [
        {"from": "socket.io"},
        {"from": "websocket"},
    ]
    assert [f["payload"] for f in sio_messages] == [
        {"from": "socket.io"},
        "to socket.io only",
        {"from": "websocket"},
    ]
    # The same history ids on both transports; direct messages carry none.
    assert [f["options"].get("id") for f in plain_messages] == [
        sio_messages[0]["options"]["id"],
        sio_messages[2]["options"]["id"],
    ]
    assert "id" not in sio_messages[1]["options"]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"action": "join", "options": {"channel": "nowhere"}}, "channel_not_allowed"),
        ({"action": "join", "options": {"channel": "bad channel"}}, "invalid_channel"),
        ({"action": "message", "options": {"channel": "chat"}}, "not_joined"),
        ({"action": "leave", "options": {"channel": "chat"}}, "not_joined"),
        ({"action": "history", "options": {"channel": "chat"}}, "not_joined"),
    ],
)
def test_refused_actions_get_their_error_code(connect, workspace, frame, expected):
    client = connect(workspace)

    client.send_frame({**frame, "payload": None})

    error = client.next()
    assert code(error) == expected
    # An invalid channel name is not echoed back.
    named = {} if expected == "invalid_channel" else frame["options"]
    assert error["options"] == named


def test_publishing_where_the_rule_forbids_it(connect, workspace):
    client = connect(workspace)
    client.join("readonly")

    client.send("message", "readonly", "hello")

    assert code(client.next()) == "publish_not_allowed"


def test_history_where_the_rule_keeps_none(connect, workspace):
    client = connect(workspace)
    client.join("readonly")

    client.send("history", "readonly")

    assert code(client.next()) == "history_disabled"


def test_direct_message_to_a_stranger(connect, workspace):
    client = connect(workspace)
    client.join("chat")

    client.send("message", "chat", "psst", socketId="nobody-here")

    assert code(client.next()) == "unknown_client"


def test_too_many_frames_are_rate_limited_with_a_retry_time(live, connect):
    slow = live.seeder.workspace(*RULES, frames_per_second=2)
    client = connect(slow)
    client.join("chat")

    for number in range(5):
        client.send("message", "chat", number)
    frames = [client.next() for _ in range(5)]

    limited = [f for f in frames if f["action"] == "error"]
    assert limited
    assert {code(f) for f in limited} == {"rate_limited"}
    assert all(f["payload"]["retry_after_ms"] > 0 for f in limited)
    assert [f["payload"] for f in frames if f["action"] == "message"] == list(
        range(5 - len(limited))
    )


def test_idle_connection_is_closed_normally_and_leaves(live, connect):
    idle_workspace = live.seeder.workspace(*RULES, idle_timeout_seconds=1)
    watcher, idle = connect(idle_workspace), connect(idle_workspace)
    idle.join("chat", presence=True)
    watcher.join("chat", presence=True)

    # The watcher keeps talking, so only the other one goes idle.
    deadline = time.monotonic() + 30
    while not idle.disconnected.is_set() and time.monotonic() < deadline:
        watcher.send("history", "chat")
        time.sleep(0.5)

    assert idle.close_code == 1000
    leaves = [
        f
        for f in watcher.drain()
        if f["action"] == "presence_update" and f["payload"]["action"] == "leave"
    ]
    assert len(leaves) == 1
