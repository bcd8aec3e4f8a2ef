"""The Redis backend: history, members and fan-out shared by every process.

Keys, per workspace ``w`` and channel ``c``: ``rt:w:hid:c`` (last history id),
``rt:w:h:c`` (history list, oldest first), ``rt:w:m:c`` (members hash: socket id
to ``process|presence|joined at|client JSON``), ``rt:w:ch`` (channels with members),
``rt:w:conns`` (open connections per process); ``rt:proc:<id>`` marks a live
process. Every message to other processes goes over one Redis pub/sub channel,
``rt:bus``, tagged with the sending process so it can skip its own echoes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis

from webapp.backends import redis_scripts
from webapp.backends.base import (
    BackendUnavailableError,
    ClusterMessage,
    MessageHandler,
    Sleep,
    Spawn,
)
from webapp.backends.bus import (
    decode_message,
    echo_prefix,
    encode_json,
    encode_message,
    message_head,
)

logger = logging.getLogger(__name__)

PREFIX = "rt:"
BUS = PREFIX + "bus"
PROCESS_TTL_SECONDS = 30
HEARTBEAT_SECONDS = 10
MAX_BACKOFF_SECONDS = 30.0
MAX_CONNECTIONS = 32
POOL_WAIT_SECONDS = 10


@contextmanager
def _unavailable() -> Iterator[None]:
    """Turn any Redis failure into :class:`BackendUnavailableError`."""
    try:
        yield
    except redis.RedisError as exc:
        raise BackendUnavailableError(
            f"Redis is not reachable: {type(exc).__name__}"
        ) from None


class RedisBackend:
    """Keep history, members and connection counts in Redis, shared by processes.

    Limitation: messages published while a process's listener is reconnecting
    to Redis are not delivered to that process's clients (pub/sub keeps
    nothing); clients that re-join with ``since`` get them from history.
    Every process receives every message of the bus, whether it has members in
    the channel or not, so the bus bounds how far processes can be added.
    Connection counts and members live only in Redis: after Redis restarts
    empty, connections open at the time are no longer counted.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.process_id = uuid.uuid4().hex
        # A bounded pool: under a burst of clients, tasks wait their turn for
        # one of a few busy connections instead of each opening its own (new
        # connections are what time out first on a saturated server).
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            socket_connect_timeout=5,
            socket_timeout=10,
            health_check_interval=30,
            decode_responses=True,
            # Names this process's connections in CLIENT LIST.
            client_name=f"rt-{self.process_id}",
        )
        self.client = redis.Redis(connection_pool=pool)
        self._process_key = f"{PREFIX}proc:{self.process_id}"
        self._own_echo = echo_prefix(self.process_id)
        self._append = self.client.register_script(redis_scripts.APPEND_AND_PUBLISH)
        self._add_connection = self.client.register_script(redis_scripts.ADD_CONNECTION)
        self._remove_connection = self.client.register_script(
            redis_scripts.REMOVE_CONNECTION
        )
        self._count = self.client.register_script(redis_scripts.COUNT_CONNECTIONS)
        self._remove_member = self.client.register_script(redis_scripts.REMOVE_MEMBER)
        self._started = False
        self._stopped = False

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"redis at {parts.hostname}:{parts.port or 6379}"

    def check(self) -> None:
        with _unavailable():
            self.client.ping()

    # Cross-process messages.

    def start(self, spawn: Spawn, sleep: Sleep, on_message: MessageHandler) -> None:
        if self._started:
            return
        self._started = True
        self._stopped = False
        spawn(lambda: self._listen(sleep, on_message))

    def stop(self) -> None:
        self._stopped = True
        self._started = False

    def publish(self, message: ClusterMessage, history_size: int = 0) -> int | None:
        if history_size > 0 and message.kind == "broadcast" and message.frame:
            entry = encode_json({**message.frame, "created_at": message.created_at})
            head = message_head(message, self.process_id)
            ws, channel = message.workspace_id, message.channel
            keys = [self._key(ws, "hid", channel), self._key(ws, "h", channel)]
            with _unavailable():
                message.id = int(self._append(keys, [entry, history_size, BUS, head]))
            return message.id
        with _unavailable():
            self.client.publish(BUS, encode_message(message, self.process_id))
        return None

    def _listen(self, sleep: Sleep, on_message: MessageHandler) -> None:
        backoff = 0.5
        while not self._stopped:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(BUS)
                self._beat()
                logger.info("listening on Redis %s as %s", BUS, self.process_id)
                backoff = 0.5
                self._pump(pubsub, on_message)
            except redis.RedisError as exc:
                # A blip is survivable; still failing after retries is not.
                level = logging.ERROR if backoff >= 4 else logging.WARNING
                logger.log(
                    level,
                    "Redis listener lost (%s); retrying in %.1fs",
                    type(exc).__name__,
                    backoff,
                )
            except Exception:
                logger.exception("Redis listener failed; retrying in %.1fs", backoff)
            finally:
                pubsub.close()
            if not self._stopped:
                sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _pump(self, pubsub: Any, on_message: MessageHandler) -> None:
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        while not self._stopped:
            raw = pubsub.get_message(timeout=1.0)
            if raw is not None and raw.get("type") == "message":
                self._dispatch(raw["data"], on_message)
            if time.monotonic() >= next_beat:
                self._beat()
                next_beat = time.monotonic() + HEARTBEAT_SECONDS

    def _dispatch(self, data: str, on_message: MessageHandler) -> None:
        # This process delivered its own messages already.
        if data.startswith(self._own_echo):
            return
        try:
            on_message(decode_message(data))
        except Exception:
            logger.exception("failed to handle a message from another process")

    def _beat(self) -> None:
        self.client.set(self._process_key, "1", ex=PROCESS_TTL_SECONDS)

    # History.

    @staticmethod
    def _key(workspace_id: int, kind: str, channel: str | None = None) -> str:
        if channel is None:
            return f"{PREFIX}{workspace_id}:{kind}"
        return f"{PREFIX}{workspace_id}:{kind}:{channel}"

    def append_history(
        self,
        workspace_id: int,
        channel: str,
        frame: dict[str, Any],
        created_at: int,
        size: int,
    ) -> int:
        entry = encode_json({**frame, "created_at": created_at})
        keys = [
            self._key(workspace_id, "hid", channel),
            self._key(workspace_id, "h", channel),
        ]
        with _unavailable():
            return int(self._append(keys, [entry, size, "", ""]))

    def history(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        with _unavailable():
            stored = self.client.lrange(self._key(workspace_id, "h", channel), 0, -1)
        entries = [json.loads(text) for text in stored]
        for entry in entries:
            entry["options"]["id"] = entry["id"]
        return entries

    def history_since(
        self, workspace_id: int, channel: str, since: int
    ) -> list[dict[str, Any]] | None:
        entries = self.history(workspace_id, channel)
        for index, entry in enumerate(entries):
            if entry["id"] == since:
                return entries[index + 1 :]
        return None

    # Members and presence.

    def add_member(
        self,
        workspace_id: int,
        channel: str,
        socket_id: str,
        client: dict[str, Any],
        presence: bool,
    ) -> None:
        # The join time keeps presence lists in join order (hashes keep none).
        joined = f"{time.time():.6f}"
        value = f"{self.process_id}|{int(presence)}|{joined}|{encode_json(client)}"
        with _unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(self._key(workspace_id, "m", channel), socket_id, value)
            pipe.sadd(self._key(workspace_id, "ch"), channel)
            pipe.set(self._process_key, "1", ex=PROCESS_TTL_SECONDS)
            pipe.execute()

    def remove_member(self, workspace_id: int, channel: str, socket_id: str) -> None:
        keys = [self._key(workspace_id, "m", channel), self._key(workspace_id, "ch")]
        with _unavailable():
            self._remove_member(keys, [socket_id, channel])

    def member(
        self, workspace_id: int, channel: str, socket_id: str
    ) -> dict[str, Any] | None:
        with _unavailable():
            value = self.client.hget(self._key(workspace_id, "m", channel), socket_id)
        return json.loads(value.split("|", 3)[3]) if value else None

    def _live_members(self, workspace_id: int, channel: str) -> dict[str, list[str]]:
        """Return live members: socket id -> [process, presence, joined, client]."""
        key = self._key(workspace_id, "m", channel)
        with _unavailable():
            members = {
                socket_id: value.split("|", 3)
                for socket_id, value in self.client.hgetall(key).items()
            }
            processes = sorted({parts[0] for parts in members.values()})
            pipe = self.client.pipeline(transaction=False)
            for process in processes:
                pipe.exists(f"{PREFIX}proc:{process}")
            alive = dict(zip(processes, pipe.execute(), strict=True))
            dead = [sid for sid, parts in members.items() if not alive[parts[0]]]
            if dead:
                self.client.hdel(key, *dead)
        return {sid: parts for sid, parts in members.items() if alive[parts[0]]}

    def presence(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        members = self._live_members(workspace_id, channel)
        visible = [parts for parts in members.values() if parts[1] == "1"]
        visible.sort(key=lambda parts: float(parts[2]))
        return [json.loads(parts[3]) for parts in visible]

    def channel_counts(self, workspace_id: int) -> dict[str, int]:
        with _unavailable():
            channels = sorted(self.client.smembers(self._key(workspace_id, "ch")))
        counts = {}
        for channel in channels:
            members = len(self._live_members(workspace_id, channel))
            if members:
                counts[channel] = members
        return counts

    # Connections.

    def add_connection(self, workspace_id: int, limit: int) -> bool:
        args = [self.process_id, limit, PROCESS_TTL_SECONDS, f"{PREFIX}proc:"]
        with _unavailable():
            return bool(self._add_connection([self._key(workspace_id, "conns")], args))

    def remove_connection(self, workspace_id: int) -> None:
        with _unavailable():
            self._remove_connection(
                [self._key(workspace_id, "conns")], [self.process_id]
            )

    def connection_count(self, workspace_id: int) -> int:
        key = self._key(workspace_id, "conns")
        with _unavailable():
            return int(self._count([key], [f"{PREFIX}proc:"]))

    def forget_workspace(self, workspace_id: int) -> None:
        with _unavailable():
            keys = list(self.client.scan_iter(f"{PREFIX}{workspace_id}:*", count=500))
            for start in range(0, len(keys), 500):
                self.client.delete(*keys[start : start + 500])
