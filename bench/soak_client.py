"""One soak client: joins, chats with sequence numbers, leaves, comes back, checks.

A client's membership is cut into *sessions*. A session starts with a join
that asks for history (the newest id there is its start) and lasts until the
client leaves; a reconnect does not end it, since the client joins again with
``since`` and the server replays what it missed. Within a session every
message id after the start must arrive exactly once, and each sender's
sequence numbers must rise. Before leaving or disconnecting the client sends a
marker and waits for its echo, so nothing it sent is still in flight.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.wire import TRANSPORTS, Connection


@dataclass
class Session:
    """A stretch of membership: every id after ``start`` must arrive once."""

    start: int
    last: int = 0
    received: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)
    # One bit per id after the start: a soak delivers millions of frames.
    _bits: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.last = self.start

    def record(self, id: int, sender: str, seq: int) -> None:
        offset = id - self.start - 1
        byte, bit = divmod(offset, 8)
        if offset < 0 or (byte < len(self._bits) and self._bits[byte] >> bit & 1):
            self.duplicates += 1
            return
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits)))
        self._bits[byte] |= 1 << bit
        self.received += 1
        self.last = max(self.last, id)
        if seq <= self.last_seq.get(sender, -1):
            self.out_of_order += 1
        self.last_seq[sender] = max(seq, self.last_seq.get(sender, -1))

    def losses(self) -> int:
        """Count the ids between the start and the last one that never came."""
        return self.last - self.start - self.received


class Registry:
    """The id each message got, shared by every client of a soak."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, int], int] = {}
        # Messages seen with two different ids: stored twice.
        self.conflicts = 0

    def see(self, channel: str, sender: str, seq: int, id: int) -> None:
        known = self.ids.setdefault((channel, sender, seq), id)
        if known != id:
            self.conflicts += 1


class SoakClient:
    """A client of one channel that keeps changing its membership until a deadline."""

    def __init__(
        self,
        key: str,
        transport: str,
        url: str,
        connection_hash: str,
        channel: str,
        rng: random.Random,
        rate: float,
        registry: Registry,
        timeout: float = 15,
    ) -> None:
        self.key = key
        self.transport = transport
        self.url = url
        self.connection_hash = connection_hash
        self.channel = channel
        self.rng = rng
        self.rate = rate
        self.registry = registry
        self.timeout = timeout
        self.connection: Connection | None = None
        self.socket_id: str | None = None
        self.sessions: list[Session] = []
        self.session: Session | None = None
        # The sequence number of every message this client sent.
        self.sent: list[int] = []
        self.presence: dict[str, dict[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.error_codes: list[str] = []
        self._seq = 0
        self._marker: int | None = None
        self._waiters: dict[str, asyncio.Future[Any]] = {}

    # Frames.

    def _on_frame(self, connection: Connection, text: str) -> None:
        if connection is not self.connection:
            return
        frame = connection.decode(text)
        if frame is None:
            return
        action = frame.get("action")
        payload = frame.get("payload") or {}
        if action == "message":
            self._on_message(frame)
        elif action == "join":
            self.socket_id = frame["client"]["socketId"]
            self._resolve("join")
        elif action == "presence_full":
            self.presence = {c["socketId"]: c for c in payload["presence"]}
            self._resolve("presence_full")
        elif action == "presence_update":
            member = payload["presence"]
            if payload["action"] == "join":
                self.presence[member["socketId"]] = member
            else:
                self.presence.pop(member["socketId"], None)
        elif action == "history":
            self._on_history(payload["history"])
        elif action == "leave":
            self._resolve("leave")

    def _on_message(self, frame: dict[str, Any]) -> None:
        self.counts["delivered"] += 1
        payload = frame["payload"]
        sender, seq, id = payload["from"], payload["seq"], frame["options"]["id"]
        self.registry.see(self.channel, sender, seq, id)
        if self.session is None:
            self.counts["outside_session"] += 1
        else:
            self.session.record(id, sender, seq)
        if sender == self.key and seq == self._marker:
            self._resolve("marker")

    def _on_history(self, entries: list[dict[str, Any]]) -> None:
        if "history" not in self._waiters:
            # A resume the server could not serve from history: what this
            # session missed cannot be checked, so a new one starts.
            self.counts["resume_fallbacks"] += 1
        self._begin(max((entry["id"] for entry in entries), default=0))
        self._resolve("history")

    def _begin(self, start: int) -> None:
        self.end_session()
        self.session = Session(start)

    def end_session(self) -> None:
        if self.session is not None:
            self.sessions.append(self.session)
            self.session = None

    def _expect(self, name: str) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._waiters[name] = future
        return future

    def _resolve(self, name: str) -> None:
        future = self._waiters.pop(name, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _wait(self, *futures: asyncio.Future[Any]) -> None:
        await asyncio.wait_for(asyncio.gather(*futures), self.timeout)

    # Actions.

    def _send(self, action: str, payload: Any = None) -> None:
        frame = {"action": action, "options": {"channel": self.channel}}
        self.connection.send_frame({**frame, "payload": payload})

    async def connect(self) -> None:
        connection = TRANSPORTS[self.transport](self.url)
        connection.on_frame = self._on_frame
        self.connection = connection
        await asyncio.wait_for(connection.open(self.connection_hash), self.timeout)

    async def join(self) -> None:
        """Join afresh: a new session starts at the newest id of the history."""
        joined, history = self._expect("join"), self._expect("history")
        self._send("join", {"presence": True, "history": True})
        await self._wait(joined, history)
        self.counts["joins"] += 1

    async def resume(self) -> None:
        """Join again after a reconnect, asking for what came after the last id."""
        if self.session is None or self.session.last == 0:
            await self.join()
            return
        joined = self._expect("join")
        self._send("join", {"presence": True, "since": self.session.last})
        await self._wait(joined)
        self.counts["resumes"] += 1

    def message(self) -> int:
        seq = self._seq
        self._seq += 1
        self.sent.append(seq)
        self._send("message", {"from": self.key, "seq": seq})
        return seq

    async def flush(self) -> None:
        """Send a marker and wait for its echo: all sent before it is delivered."""
        echoed = self._expect("marker")
        self._marker = self.message()
        await self._wait(echoed)

    async def leave(self) -> None:
        await self.flush()
        left = self._expect("leave")
        self._send("leave")
        await self._wait(left)
        self.end_session()
        self.presence.clear()
        self.counts["leaves"] += 1

    async def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            self.error_codes.extend(connection.errors)
            await connection.close()

    async def reconnect(self) -> None:
        await self.flush()
        await self.disconnect()
        self.presence.clear()
        await asyncio.sleep(self.rng.uniform(0.1, 1.0))
        await self.connect()
        await self.resume()
        self.counts["reconnects"] += 1

    async def refresh_presence(self) -> dict[str, dict[str, Any]]:
        """Join again (harmless) and return the ``presence_full`` it brings."""
        full = self._expect("presence_full")
        self._send("join", {"presence": True})
        await self._wait(full)
        return dict(self.presence)

    # Behaviour.

    async def chat(self, seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end:
            self.message()
            await asyncio.sleep(self.rng.expovariate(self.rate))

    async def run(self, seconds: float) -> None:
        """Chat, leave and come back, disconnect and resume, for ``seconds``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        await self.connect()
        await self.join()
        while loop.time() < end:
            await self.chat(min(self.rng.uniform(1, 6), max(0, end - loop.time())))
            if loop.time() >= end:
                break
            choice = self.rng.random()
            if choice < 0.35:
                await self.leave()
                await asyncio.sleep(self.rng.uniform(0.1, 1.0))
                await self.join()
            elif choice < 0.7:
                await self.reconnect()
