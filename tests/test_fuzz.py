"""Fuzzing both transports of a live server while two clients keep chatting.

Hypothesis throws random text, random bytes, random JSON, mutated valid
frames and huge or deep JSON at the plain WebSocket endpoint, and arbitrary
values, event names and argument lists at the Socket.IO namespace. Each input
is followed by a probe (``history`` on a channel nobody joined), so every
frame that answered the input is collected: a bad frame gets exactly one
``error`` frame with a documented code, or the connection is closed with a
documented close code (then the fuzzing client connects again). Meanwhile a
WebSocket client and a Socket.IO client in the same channel exchange numbered
messages; each test ends by checking that all of them arrived, in order.

Runs are reproducible: Hypothesis is derandomized and keeps no database.
"""

from __future__ import annotations

import json
import queue
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from socketio.exceptions import SocketIOError

from tests.test_socketio_rt import Live, Seeded, run_live
from tests.test_socketio_rt import RtClient as SioClient
from tests.ws_client import WsTestClient

pytestmark = pytest.mark.live

CHANNEL = "chat"
PROBE_CHANNEL = "zz-probe"
MAX_FRAME_BYTES = 4096
FAR_OVER_BYTES = 4 * MAX_FRAME_BYTES
RULES = (
    {
        "name": CHANNEL,
        "presence": True,
        "history_size": 20,
        "direct": "any",
    },
    {"name": "room:*", "nested": True, "presence": True, "history_size": 5},
)
ERROR_CODES = {
    "invalid_frame",
    "invalid_channel",
    "channel_not_allowed",
    "auth_required",
    "publish_not_allowed",
    "not_joined",
    "unknown_client",
    "payload_too_large",
    "history_disabled",
}
SERVER_ACTIONS = {
    "join",
    "leave",
    "message",
    "event",
    "presence_full",
    "presence_update",
    "history",
    "error",
}
CLIENT_ACTIONS = ("join", "leave", "message", "history")
# Bounds on waiting for frames; never a speed check.
WAIT_SECONDS = 10

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    yield from run_live("memory", tmp_path_factory)


@pytest.fixture(scope="module")
def workspace(live) -> Seeded:
    # Fuzzing sends far more than 20 frames a second.
    return live.seeder.workspace(
        *RULES, frames_per_second=100_000, max_frame_bytes=MAX_FRAME_BYTES
    )


# Clients.


def _is_probe_answer(frame: dict[str, Any]) -> bool:
    return (
        frame.get("action") == "error"
        and frame.get("options") == {"channel": PROBE_CHANNEL}
        and frame["payload"]["code"] == "not_joined"
    )


@dataclass
class Answer:
    """The frames that answered one input, and whether the server closed."""

    frames: list[dict[str, Any]]
    closed: bool
    close_code: int | None = None

    @property
    def codes(self) -> list[str]:
        return [f["payload"]["code"] for f in self.frames if f["action"] == "error"]


class Fuzzer:
    """A fuzzing client of one transport, connected again whenever it is closed.

    Frames the other clients caused (the chatters' messages) are left out of
    its answers.
    """

    def __init__(self, open_client: Callable[[], Any], close_codes: bool) -> None:
        self._open_client = open_client
        self._close_codes = close_codes
        self.others: set[str] = set()
        self.client = self._open()

    def _open(self) -> Any:
        # A member of the chatters' channel: what it sends reaches them.
        client = self._open_client()
        client.join(CHANNEL, presence=True, history=True)
        client.drain()
        return client

    def answer(self, send: Callable[[Any], None]) -> Answer:
        """Send something, then the probe; return what answered it."""
        try:
            send(self.client)
            self.client.send("history", PROBE_CHANNEL)
        except (websocket.WebSocketException, SocketIOError, OSError):
            # The server closed the connection first: the frames tell why.
            pass
        answer = self._collect()
        for frame in answer.frames:
            _assert_well_formed(frame)
        if answer.closed:
            answer.close_code = getattr(self.client, "close_code", None)
            if self._close_codes:
                # Only the documented codes: policy (1008) or far too big (1009).
                assert answer.close_code in (1008, 1009), answer
            self.client.close()
            self.client = self._open()
        return answer

    def _collect(self) -> Answer:
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                frame = self.client.frames.get(timeout=0.1)
            except queue.Empty:
                if self.client.disconnected.is_set():
                    return Answer(frames, closed=True)
                continue
            if _is_probe_answer(frame):
                return Answer(frames, closed=False)
            if (frame.get("client") or {}).get("socketId") not in self.others:
                frames.append(frame)
        pytest.fail(f"no answer to the probe; frames so far: {frames}")


def _assert_well_formed(frame: Any) -> None:
    assert isinstance(frame, dict), frame
    _assert_readable_by_browsers(frame)
    assert frame["action"] in SERVER_ACTIONS, frame
    assert isinstance(frame["options"], dict), frame
    if frame["action"] == "error":
        assert frame["payload"]["code"] in ERROR_CODES, frame
        assert isinstance(frame["payload"]["message"], str), frame


@pytest.fixture
def ws_fuzzer(live, workspace, chatters) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(
        lambda: WsTestClient(live.server.url, workspace.connection_hash), True
    )
    fuzzer.others = set(chatters.ids.values())
    yield fuzzer
    fuzzer.client.close()


@pytest.fixture
def sio_fuzzer(live, workspace, chatters) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(
        lambda: SioClient(live.server.url, workspace.connection_hash), False
    )
    fuzzer.others = set(chatters.ids.values())
    yield fuzzer
    fuzzer.client.close()


# The two well-behaved clients.


class Chatters:
    """A WebSocket and a Socket.IO client trading numbered messages in a thread."""

    def __init__(self, live: Live, workspace: Seeded) -> None:
        self.ws = WsTestClient(live.server.url, workspace.connection_hash)
        self.sio = SioClient(live.server.url, workspace.connection_hash)
        self.ids = {
            "ws": self.ws.join(CHANNEL, presence=True)["client"]["socketId"],
            "sio": self.sio.join(CHANNEL, presence=True)["client"]["socketId"],
        }
        self.sent = {"ws": 0, "sio": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._chat, daemon=True)
        self._thread.start()

    def _chat(self) -> None:
        while not self._stop.wait(0.01):
            for name, client in (("ws", self.ws), ("sio", self.sio)):
                payload = {"chatter": name, "seq": self.sent[name]}
                client.send("message", CHANNEL, payload)
                self.sent[name] += 1

    def assert_undisturbed(self) -> None:
        """Stop chatting; check each received every message of both, in order."""
        self._stop.set()
        self._thread.join(WAIT_SECONDS)
        for client in (self.ws, self.sio):
            client.send("message", CHANNEL, {"chatter": "done"})
        for client in (self.ws, self.sio):
            seen = self._received(client)
            assert seen == {name: list(range(self.sent[name])) for name in self.ids}

    def _received(self, client: Any) -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {name: [] for name in self.ids}
        done = 0
        while done < len(self.ids):
            frame = client.next()
            _assert_readable_by_browsers(frame)
            sender = (frame.get("client") or {}).get("socketId")
            if frame["action"] != "message" or sender not in self.ids.values():
                continue
            payload = frame["payload"]
            if payload == {"chatter": "done"}:
                done += 1
            else:
                seen[payload["chatter"]].append(payload["seq"])
        return seen

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_SECONDS)
        self.ws.close()
        self.sio.close()


@pytest.fixture
def chatters(live, workspace) -> Iterator[Chatters]:
    pair = Chatters(live, workspace)
    yield pair
    pair.close()


def _assert_readable_by_browsers(frame: dict[str, Any]) -> None:
    # Strict JSON and valid UTF-8: what JSON.parse and a WebSocket accept.
    json.dumps(frame, allow_nan=False, ensure_ascii=False).encode("utf-8")


def _assert_server_alive(live: Live) -> None:
    assert live.server.process.poll() is None, live.server.log()


# What is thrown.

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
# JSON as Python's json module writes it: NaN, Infinity and escaped lone
# surrogates included, which the server must refuse.
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["\ud800", "a\udfffb", "\U0001f600"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_HOSTILE_CHANNELS = st.sampled_from(
    [
        CHANNEL,
        "room:1",
        "room:*",
        "*",
        "room:../chat",
        "ch\u0430t",
        "\uff43hat",
        "chat\x00",
        "x" * 300,
        "",
    ]
) | st.text(max_size=12)


@st.composite
def _valid_frames(draw) -> dict[str, Any]:
    action = draw(st.sampled_from(CLIENT_ACTIONS))
    channel = draw(st.sampled_from([CHANNEL, "room:1", "room:lobby"]))
    frame: dict[str, Any] = {"action": action, "options": {"channel": channel}}
    if action == "join":
        frame["payload"] = {
            "presence": draw(st.booleans()),
            "history": draw(st.booleans()),
        }
    elif action == "message":
        frame["payload"] = draw(_JSON)
        if draw(st.booleans()):
            frame["options"]["socketId"] = draw(st.text(max_size=16))
    return frame


@st.composite
def _mutated_frames(draw) -> Any:
    """A valid frame with one part replaced, dropped or retyped."""
    frame = draw(_valid_frames())
    mutation = draw(
        st.sampled_from(
            [
                "action",
                "channel",
                "options",
                "payload",
                "drop",
                "option",
                "wrap",
                "since",
            ]
        )
    )
    if mutation == "action":
        frame["action"] = draw(_JSON | st.sampled_from(["JOIN", "join ", "event"]))
    elif mutation == "channel":
        frame["options"]["channel"] = draw(_HOSTILE_CHANNELS | _JSON)
    elif mutation == "options":
        frame["options"] = draw(_JSON)
    elif mutation == "payload":
        frame["payload"] = draw(_JSON)
    elif mutation == "drop":
        frame.pop(draw(st.sampled_from(["action", "options", "payload"])), None)
    elif mutation == "option":
        name = draw(st.sampled_from(["socketId", "authenticated", "channel"]))
        frame["options"][name] = draw(_JSON)
    elif mutation == "wrap":
        frame = draw(st.sampled_from([[frame], {"frame": frame}, [frame, frame]]))
    else:
        frame["payload"] = {"since": draw(_JSON), "history": True}
    return frame


@st.composite
def _mutated_texts(draw) -> str:
    """The JSON text of a valid or mutated frame, cut, spliced or re-typed."""
    text = json.dumps(draw(_mutated_frames() | _valid_frames()))
    mutation = draw(st.sampled_from(["cut", "insert", "replace", "keep"]))
    at = draw(st.integers(0, len(text)))
    if mutation == "cut":
        return text[:at]
    if mutation == "insert":
        return text[:at] + draw(st.sampled_from(list('{}[]",:\\ 0'))) + text[at:]
    if mutation == "replace":
        return text.replace("chat", draw(st.sampled_from(["ch\\u0430t", "c*", "NaN"])))
    return text


def _looks_valid(value: Any) -> bool:
    """Tell whether a frame might succeed (so an error is not required)."""
    if not isinstance(value, dict) or value.get("action") not in CLIENT_ACTIONS:
        return False
    options = value.get("options")
    return isinstance(options, dict) or options is None


def _assert_answered(answer: Answer, value: Any) -> None:
    """A bad frame gets one error frame; a closed connection a documented close."""
    if answer.closed:
        # Only a frame far over the size limit closes; its error frame comes first.
        assert answer.codes[-1:] == ["payload_too_large"], answer
        return
    if _looks_valid(value):
        assert answer.frames or value.get("action") == "message", value
        return
    assert [frame["action"] for frame in answer.frames] == ["error"], (value, answer)


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# Plain WebSocket.


def test_websocket_survives_random_text(live, ws_fuzzer, chatters):
    @FUZZ
    @given(text=_TEXT)
    def throw(text: str) -> None:
        answer = ws_fuzzer.answer(lambda client: client.send_text(text))
        _assert_answered(answer, _decoded(text))

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_websocket_survives_random_bytes(live, ws_fuzzer, chatters):
    @FUZZ
    @given(data=st.binary(max_size=300))
    def throw(data: bytes) -> None:
        answer = ws_fuzzer.answer(lambda client: client.ws.send_binary(data))
        assert not answer.closed
        assert answer.codes == ["invalid_frame"]

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_websocket_survives_random_json(live, ws_fuzzer, chatters):
    @FUZZ
    @given(value=_JSON)
    def throw(value: Any) -> None:
        answer = ws_fuzzer.answer(lambda client: client.send_frame(value))
        _assert_answered(answer, value)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_websocket_survives_mutated_frames(live, ws_fuzzer, chatters):
    @FUZZ
    @given(text=_mutated_texts())
    def throw(text: str) -> None:
        answer = ws_fuzzer.answer(lambda client: client.send_text(text))
        _assert_answered(answer, _decoded(text))

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def _assert_relayed_or_refused(answer: Answer, payload: Any) -> None:
    """A message comes back to its sender as sent, or is refused as unreadable."""
    assert not answer.closed
    echoes = [frame["payload"] for frame in answer.frames]
    assert echoes == [payload] or answer.codes == ["invalid_frame"], answer


def test_websocket_relays_only_payloads_browsers_can_read(live, ws_fuzzer, chatters):
    @FUZZ
    @given(payload=_JSON)
    def throw(payload: Any) -> None:
        answer = ws_fuzzer.answer(
            lambda client: client.send("message", CHANNEL, payload)
        )
        _assert_relayed_or_refused(answer, payload)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


_SIZES = st.sampled_from([MAX_FRAME_BYTES + 1, FAR_OVER_BYTES + 1, 200_000])


def _big_frame(size: int) -> dict[str, Any]:
    frame = {"action": "message", "options": {"channel": CHANNEL}}
    return {**frame, "payload": "x" * size}


def _deep_frame(depth: int) -> dict[str, Any]:
    frame = {"action": "message", "options": {"channel": CHANNEL}}
    return {**frame, "payload": json.loads("[" * depth + "]" * depth)}


def _assert_refused_as_too_big_or_deep(answer: Answer, deep: bool, size: int) -> None:
    if deep:
        assert (answer.closed, answer.codes) == (False, ["invalid_frame"])
    else:
        assert answer.codes == ["payload_too_large"]
        assert answer.closed is (size > FAR_OVER_BYTES)


def test_websocket_survives_huge_and_deep_json(live, ws_fuzzer, chatters):
    @settings(FUZZ, max_examples=30)
    @given(depth=st.integers(65, 2000), size=_SIZES, deep=st.booleans())
    def throw(depth: int, size: int, deep: bool) -> None:
        # Past Python's recursion limit only the raw text can carry it.
        text = "[" * depth + "]" * depth if deep else json.dumps(_big_frame(size))
        answer = ws_fuzzer.answer(lambda client: client.send_text(text))
        _assert_refused_as_too_big_or_deep(answer, deep, size)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


# Socket.IO.

_EVENT_NAMES = st.sampled_from(
    ["connect", "disconnect", "message", "join", "RT", "", "rt2", "error"]
) | st.text(alphabet=string.ascii_letters + "_- ", max_size=10)


def test_socketio_survives_arbitrary_rt_values(live, sio_fuzzer, chatters):
    @FUZZ
    @given(value=_JSON | st.binary(max_size=50) | _mutated_frames())
    def throw(value: Any) -> None:
        answer = sio_fuzzer.answer(
            lambda client: client.sio.emit("rt", value, namespace="/rt")
        )
        _assert_answered(answer, value)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_socketio_relays_only_payloads_browsers_can_read(live, sio_fuzzer, chatters):
    @FUZZ
    @given(payload=_JSON)
    def throw(payload: Any) -> None:
        answer = sio_fuzzer.answer(
            lambda client: client.send("message", CHANNEL, payload)
        )
        _assert_relayed_or_refused(answer, payload)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_socketio_survives_other_events_and_argument_lists(live, sio_fuzzer, chatters):
    @FUZZ
    @given(
        event=_EVENT_NAMES,
        args=st.lists(_JSON | _mutated_frames(), max_size=3).map(tuple),
    )
    def throw(event: str, args: tuple[Any, ...]) -> None:
        answer = sio_fuzzer.answer(
            lambda client: client.sio.emit(event, args, namespace="/rt")
        )
        if event == "rt":
            _assert_answered(answer, args[0] if args else None)
        else:
            assert (answer.closed, answer.codes) == (False, ["invalid_frame"])

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)


def test_socketio_survives_huge_and_deep_frames(live, sio_fuzzer, chatters):
    @settings(FUZZ, max_examples=30)
    @given(depth=st.integers(65, 400), size=_SIZES, deep=st.booleans())
    def throw(depth: int, size: int, deep: bool) -> None:
        frame = _deep_frame(depth) if deep else _big_frame(size)
        answer = sio_fuzzer.answer(
            lambda client: client.sio.emit("rt", frame, namespace="/rt")
        )
        _assert_refused_as_too_big_or_deep(answer, deep, size)

    throw()

    chatters.assert_undisturbed()
    _assert_server_alive(live)
