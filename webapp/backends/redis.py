"""The Redis backend: history, members and fan-out shared by every process.

Keys, per workspace ``w`` and channel ``c``: ``rt:w:hid:c`` (last history id),
``rt:w:h:c`` (history list, oldest first), ``rt:w:m:c`` (members hash: socket id
to ``process|presence|joined at|client JSON``), ``rt:w:ch`` (channels with members),
``rt:w:conns`` (open connections per process). Each process keeps
``rt:proc:<id>`` alive and its id in ``rt:procs`` (see :mod:`redis_scripts`
for the indexes that let a survivor reap a dead process). Every message to
other processes goes over one Redis pub/sub channel, ``rt:bus``, tagged with
the sending process so it can skip its own echoes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis

from webapp.backends import redis_scripts
from webapp.backends.base import (
    BackendUnavailableError,
    ClusterMessage,
    Departure,
    Liveness,
    MessageHandler,
    Pending,
    Sleep,
    Spawn,
    entries_after,
)
from webapp.backends.bus import (
    echo_prefix,
    encode_json,
    encode_message,
    message_head,
)
from webapp.backends.redis_batch import Batcher, Call
from webapp.backends.redis_listener import BusListener
from webapp.backends.redis_registry import (
    PREFIX,
    PROCESS_TTL_SECONDS,
    ProcessRegistry,
    key,
    member_index,
    process_key,
    workspace_index,
)

logger = logging.getLogger(__name__)

BUS = PREFIX + "bus"
MAX_CONNECTIONS = 32
POOL_WAIT_SECONDS = 10


class RedisBackend:
    """Keep history, members and connection counts in Redis, shared by processes.

    Limitation: messages published while a process's listener is reconnecting
    to Redis are not delivered to that process's clients (pub/sub keeps
    nothing); clients that re-join with ``since`` get them from history.
    Every process receives every message of the bus, whether it has members in
    the channel or not, so the bus bounds how far processes can be added.
    History lives in Redis only: it survives a Redis restart only where Redis
    persists its data (AOF or RDB). A client joining on one process can hear
    of a member that joined on another a moment before twice: in
    ``presence_full`` and in a ``presence_update`` still on the bus.
    """

    def __init__(self, url: str, *, reap_grace: float = PROCESS_TTL_SECONDS) -> None:
        self.url = url
        # After Redis answers again, the others get this long to beat before
        # this process may take them for dead.
        self.reap_grace = reap_grace
        process_id = uuid.uuid4().hex
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
            client_name=f"rt-{process_id}",
        )
        self.client = redis.Redis(connection_pool=pool)
        self._registry = ProcessRegistry(self.client, process_id)
        self._listener = BusListener(self.client, BUS, self.describe())
        self._listener.own_echoes = (echo_prefix(self.process_id),)
        # Publishes and stores of every task go to Redis in shared batches.
        self._batcher = Batcher(self.client)
        script = self.client.register_script
        self._append = script(redis_scripts.APPEND_AND_PUBLISH)
        self._add_member = script(redis_scripts.ADD_MEMBER)
        self._remove_member = script(redis_scripts.REMOVE_MEMBER)
        self._add_connection = script(redis_scripts.ADD_CONNECTION)
        self._remove_connection = script(redis_scripts.REMOVE_CONNECTION)
        self._count = script(redis_scripts.COUNT_CONNECTIONS)
        # Since when Redis has answered without a break (monotonic), or None;
        # and whether an outage was logged and not yet its end.
        self._reachable_since: float | None = None
        self._down = False

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"redis at {parts.hostname}:{parts.port or 6379}"

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn a Redis failure into :class:`BackendUnavailableError`.

        The first failure of an outage is logged at ERROR, and the first
        success after it at INFO; what fails in between is the callers' to
        report (at most a warning).
        """
        try:
            yield
        except redis.RedisError as exc:
            self._reachable_since = None
            if not self._down:
                self._down = True
                logger.error(
                    "%s is not reachable (%s): realtime answers 'unavailable' "
                    "until it is back",
                    self.describe(),
                    type(exc).__name__,
                )
            raise BackendUnavailableError(
                f"Redis is not reachable: {type(exc).__name__}"
            ) from None
        if self._reachable_since is None:
            self._reachable_since = time.monotonic()
            if self._down:
                self._down = False
                logger.info("%s is reachable again", self.describe())

    def check(self) -> None:
        with self._reaching():
            self.client.ping()

    # Cross-process messages.

    def start(self, spawn: Spawn, sleep: Sleep, on_message: MessageHandler) -> None:
        self._listener.start(spawn, sleep, on_message)

    def stop(self) -> None:
        self._listener.stop()
        try:
            self._registry.retire()
        except redis.RedisError:
            logger.warning("could not retire %s: Redis unavailable", self.process_id)

    def listening(self) -> bool | None:
        if not self._listener.running:
            return None
        return self._listener.subscribed

    def publish(self, message: ClusterMessage) -> None:
        data = encode_message(message, self.process_id)
        call = self._batcher.submit("PUBLISH", BUS, data)
        with self._reaching():
            self._batcher.wait(call)

    def store(
        self,
        message: ClusterMessage,
        history_size: int,
        then: Callable[[Pending], None] | None = None,
    ) -> StoredEntry:
        frame = message.frame or {}
        entry = encode_json({**frame, "created_at": message.created_at})
        head = message_head(message, self.process_id)
        ws, channel = message.workspace_id, message.channel
        keys = [key(ws, "hid", channel), key(ws, "h", channel)]
        args = [entry, history_size, BUS, head]
        stored = StoredEntry(self, message)

        def follow(call: Call) -> None:
            # Perhaps before submit_script has returned, in another thread.
            stored.call = call
            if then is not None:
                then(stored)

        stored.call = self._batcher.submit_script(self._append, keys, args, follow)
        return stored

    # Liveness.

    @property
    def process_id(self) -> str:
        """Return this process's id; it changes if others took it for dead."""
        return self._registry.process_id

    def beat(self) -> Liveness:
        with self._reaching():
            found = self._registry.beat()
        if found == "reaped":
            # Echoes of the old id stay skipped too.
            self._listener.own_echoes += (echo_prefix(self.process_id),)
        return found

    def reap(self) -> list[Departure]:
        since = self._reachable_since
        if since is None or time.monotonic() - since < self.reap_grace:
            return []
        with self._reaching():
            return self._registry.reap()

    # History.

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
            key(workspace_id, "hid", channel),
            key(workspace_id, "h", channel),
        ]
        with self._reaching():
            return int(self._append(keys, [entry, size, "", ""]))

    def history(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        with self._reaching():
            stored = self.client.lrange(key(workspace_id, "h", channel), 0, -1)
        entries = [json.loads(text) for text in stored]
        for entry in entries:
            entry["options"]["id"] = entry["id"]
        return entries

    def history_since(
        self, workspace_id: int, channel: str, since: int
    ) -> list[dict[str, Any]] | None:
        return entries_after(self.history(workspace_id, channel), since)

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
        keys = [
            key(workspace_id, "m", channel),
            key(workspace_id, "ch"),
            member_index(self.process_id),
            process_key(self.process_id),
        ]
        args = [
            socket_id,
            value,
            channel,
            f"{workspace_id}:{channel}",
            PROCESS_TTL_SECONDS,
            self.process_id,
        ]
        with self._reaching():
            self._add_member(keys, args)

    def remove_member(self, workspace_id: int, channel: str, socket_id: str) -> None:
        keys = [key(workspace_id, "m", channel), key(workspace_id, "ch")]
        args = [socket_id, channel, f"{workspace_id}:{channel}", f"{PREFIX}pm:"]
        with self._reaching():
            self._remove_member(keys, args)

    def member(
        self, workspace_id: int, channel: str, socket_id: str
    ) -> dict[str, Any] | None:
        with self._reaching():
            value = self.client.hget(key(workspace_id, "m", channel), socket_id)
        return json.loads(value.split("|", 3)[3]) if value else None

    def _live_members(self, workspace_id: int, channel: str) -> dict[str, list[str]]:
        """Return live members: socket id -> [process, presence, joined, client].

        Members of dead processes are skipped, not removed: the process that
        reaps them must find them to announce their leaves.
        """
        members_key = key(workspace_id, "m", channel)
        with self._reaching():
            members = {
                socket_id: value.split("|", 3)
                for socket_id, value in self.client.hgetall(members_key).items()
            }
            processes = sorted({parts[0] for parts in members.values()})
            pipe = self.client.pipeline(transaction=False)
            for process in processes:
                pipe.exists(process_key(process))
            alive = dict(zip(processes, pipe.execute(), strict=True))
        return {sid: parts for sid, parts in members.items() if alive[parts[0]]}

    def presence(self, workspace_id: int, channel: str) -> list[dict[str, Any]]:
        members = self._live_members(workspace_id, channel)
        visible = [parts for parts in members.values() if parts[1] == "1"]
        visible.sort(key=lambda parts: float(parts[2]))
        return [json.loads(parts[3]) for parts in visible]

    def channel_counts(self, workspace_id: int) -> dict[str, int]:
        with self._reaching():
            channels = sorted(self.client.smembers(key(workspace_id, "ch")))
        counts = {}
        for channel in channels:
            members = len(self._live_members(workspace_id, channel))
            if members:
                counts[channel] = members
        return counts

    # Connections.

    def add_connection(self, workspace_id: int, limit: int) -> bool:
        keys = [key(workspace_id, "conns"), workspace_index(self.process_id)]
        args = [
            self.process_id,
            limit,
            PROCESS_TTL_SECONDS,
            f"{PREFIX}proc:",
            workspace_id,
        ]
        with self._reaching():
            return bool(self._add_connection(keys, args))

    def remove_connection(self, workspace_id: int) -> None:
        with self._reaching():
            self._remove_connection([key(workspace_id, "conns")], [self.process_id])

    def set_connections(self, workspace_id: int, count: int) -> None:
        with self._reaching():
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(key(workspace_id, "conns"), self.process_id, count)
            pipe.sadd(workspace_index(self.process_id), workspace_id)
            pipe.execute()

    def connection_count(self, workspace_id: int) -> int:
        with self._reaching():
            return int(self._count([key(workspace_id, "conns")], [f"{PREFIX}proc:"]))

    def forget_workspace(self, workspace_id: int) -> None:
        with self._reaching():
            keys = list(self.client.scan_iter(f"{PREFIX}{workspace_id}:*", count=500))
            for start in range(0, len(keys), 500):
                self.client.delete(*keys[start : start + 500])


class StoredEntry:
    """A history entry on its way to Redis: :meth:`wait` returns its id."""

    __slots__ = ("_backend", "_message", "call")

    def __init__(self, backend: RedisBackend, message: ClusterMessage) -> None:
        self._backend = backend
        self._message = message
        self.call: Call | None = None

    def wait(self) -> int:
        call = self.call
        with self._backend._reaching():
            # Within the call's own follow-up it is done, not yet finished.
            reply = call.outcome() if call.done else self._backend._batcher.wait(call)
            self._message.id = int(reply)
        return self._message.id
