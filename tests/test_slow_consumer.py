"""A client that stops reading is closed (1013), and its channel goes on without it.

Each test joins a deliberately stalled client, one that completes the
handshake, joins and then never reads, next to healthy members over both
transports. A publisher sends numbered messages in batches until the healthy
members see the stalled one leave the channel's presence: they must have every
message, in order, and the stalled client, once it reads again, finds the
``slow_consumer`` error and the close after what it had been sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.raw_clients import (
    OPCODE_CLOSE,
    OPCODE_TEXT,
    RawSocketIO,
    RawWebSocket,
    close_code,
    texts,
)
from tests.test_socketio_rt import Live, RtClient, Seeded, run_live
from tests.ws_client import WsTestClient
from webapp.transports.socketio_rt import MAX_QUEUED_PACKETS
from webapp.transports.websocket_client import MAX_QUEUED_BYTES

pytestmark = pytest.mark.live

CHANNEL = "chat"
# Large enough to fill kernel buffers soon, small enough to be many packets.
TEXT = "x" * 4096
BATCH = 100
# Far past both bounds, whatever the kernel buffers: the test stops earlier.
MAX_MESSAGES = 20 * max(MAX_QUEUED_PACKETS, MAX_QUEUED_BYTES // len(TEXT))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    yield from run_live("memory", tmp_path_factory)


@pytest.fixture
def workspace(live) -> Seeded:
    rule = {"name": CHANNEL, "presence": True}
    return live.seeder.workspace(rule, frames_per_second=100_000)


class Member:
    """A healthy member: the numbers it received and who it saw leave."""

    def __init__(self, client: WsTestClient | RtClient) -> None:
        self.client = client
        self.numbers: list[int] = []
        self.left: set[str] = set()
        client.join(CHANNEL, presence=True)
        client.expect("presence_full")

    def collect(self, count: int) -> None:
        """Read frames until ``count`` messages have arrived."""
        while len(self.numbers) < count:
            frame = self.client.next()
            if frame["action"] == "message":
                self.numbers.append(frame["payload"]["n"])
            elif frame["action"] == "presence_update":
                if frame["payload"]["action"] == "leave":
                    self.left.add(frame["payload"]["presence"]["socketId"])


def stalled_websocket(live: Live, workspace: Seeded) -> tuple[RawWebSocket, str]:
    url = live.server.url.replace("http://", "ws://", 1)
    ws = RawWebSocket(f"{url}/rt/{workspace.connection_hash}", receive_buffer=4096)
    frame = {
        "action": "join",
        "options": {"channel": CHANNEL},
        "payload": {"presence": True},
    }
    ws.send_text(json.dumps(frame))
    while True:
        opcode, payload = ws.next_frame()
        reply = json.loads(payload)
        if reply["action"] == "join":
            return ws, reply["client"]["socketId"]


def stalled_socketio(live: Live, workspace: Seeded) -> tuple[RawSocketIO, str]:
    client = RawSocketIO(live.server.url, workspace.connection_hash, 4096)
    joined = client.join(CHANNEL, presence=True)
    return client, joined["client"]["socketId"]


def publish_until_dropped(members: list[Member], stalled_id: str) -> int:
    """Send numbered batches until every member saw the stalled client leave."""
    publisher = members[0].client
    sent = 0
    while not all(stalled_id in member.left for member in members):
        assert sent < MAX_MESSAGES, "the stalled client was never closed"
        for number in range(sent, sent + BATCH):
            publisher.send("message", CHANNEL, {"n": number, "text": TEXT})
        sent += BATCH
        # Waiting for every member keeps the healthy ones from falling behind.
        for member in members:
            member.collect(sent)
    return sent


def healthy_members(live: Live, workspace: Seeded) -> list[Member]:
    url, connection_hash = live.server.url, workspace.connection_hash
    return [
        Member(WsTestClient(url, connection_hash)),
        Member(RtClient(url, connection_hash)),
    ]


def close_all(members: list[Member]) -> None:
    for member in members:
        member.client.close()


def error_codes(frames: list[dict[str, Any]]) -> list[str]:
    return [f["payload"]["code"] for f in frames if f["action"] == "error"]


def test_stalled_websocket_client_is_closed_with_1013_and_others_get_everything(
    live, workspace
):
    stalled, stalled_id = stalled_websocket(live, workspace)
    members = healthy_members(live, workspace)

    sent = publish_until_dropped(members, stalled_id)

    for member in members:
        assert member.numbers == list(range(sent))
    frames = stalled.read_to_end()
    stalled.close()
    close_all(members)
    assert frames[-1][0] == OPCODE_CLOSE
    assert close_code(frames[-1][1]) == 1013
    assert frames[-2][0] == OPCODE_TEXT
    received = [json.loads(text) for text in texts(frames)]
    assert error_codes(received) == ["slow_consumer"]
    assert received[-1]["action"] == "error"
    # What it had not taken was dropped, not sent late.
    assert len([f for f in received if f["action"] == "message"]) < sent


def test_stalled_socketio_client_is_disconnected_and_others_get_everything(
    live, workspace
):
    stalled, stalled_id = stalled_socketio(live, workspace)
    members = healthy_members(live, workspace)

    sent = publish_until_dropped(members, stalled_id)

    for member in members:
        assert member.numbers == list(range(sent))
    packets = []
    while (text := stalled.next_text()) is not None and text != "41/rt,":
        packets.append(text)
    stalled.close()
    close_all(members)
    assert text == "41/rt,", "no Socket.IO disconnect after the error frame"
    received = [
        json.loads(packet[len(stalled.prefix) :])[1]
        for packet in packets
        if packet.startswith(stalled.prefix)
    ]
    assert error_codes(received) == ["slow_consumer"]
    assert received[-1]["action"] == "error"
    assert len([f for f in received if f["action"] == "message"]) < sent


def test_a_member_that_keeps_up_is_never_closed(live, workspace):
    members = healthy_members(live, workspace)
    sent = 0
    for _ in range(5):
        for number in range(sent, sent + BATCH):
            members[0].client.send("message", CHANNEL, {"n": number, "text": TEXT})
        sent += BATCH
        for member in members:
            member.collect(sent)

    for member in members:
        assert member.numbers == list(range(sent))
        assert member.left == set()
        assert member.client.drain() == []
    close_all(members)
