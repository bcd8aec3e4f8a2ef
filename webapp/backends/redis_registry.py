"""Server processes in Redis: each one's liveness, and the reaping of dead ones.

A process beats every second: its key ``rt:proc:<id>`` lives
:data:`PROCESS_TTL_SECONDS` and its id stays in ``rt:procs``. A process in the
set whose key expired died without warning (a crash, a kill -9); the first
survivor to claim it removes its members and connection counts, found through
its indexes, and announces the leaves. Methods here raise ``redis.RedisError``;
the backend turns that into its own error.
"""

from __future__ import annotations

import json
import logging
import uuid

import redis

from webapp.backends import redis_scripts
from webapp.backends.base import Departure, Liveness

logger = logging.getLogger(__name__)

PREFIX = "rt:"
PROCESSES = PREFIX + "procs"
# A process that has not beaten for this long is dead. The engine beats and
# looks for dead processes every second, so a process killed without warning
# leaves the presence of every channel within PROCESS_TTL_SECONDS + 1 seconds
# (its last beat, then a survivor's next look): the bound docs/deploy.md states.
PROCESS_TTL_SECONDS = 5
# How long the other processes remember that they reaped a process.
TOMBSTONE_SECONDS = 3600


def key(workspace_id: int, kind: str, channel: str | None = None) -> str:
    """Return the Redis key of a workspace's (or a channel's) ``kind`` of data."""
    if channel is None:
        return f"{PREFIX}{workspace_id}:{kind}"
    return f"{PREFIX}{workspace_id}:{kind}:{channel}"


def process_key(process_id: str) -> str:
    """Return the key that exists while the process is alive."""
    return f"{PREFIX}proc:{process_id}"


def member_index(process_id: str) -> str:
    """Return the hash counting a process's members per ``workspace:channel``."""
    return f"{PREFIX}pm:{process_id}"


def workspace_index(process_id: str) -> str:
    """Return the set of workspaces a process counted connections of."""
    return f"{PREFIX}pw:{process_id}"


class ProcessRegistry:
    """This process's registration, and the reaping of the processes that died."""

    def __init__(self, client: redis.Redis, process_id: str) -> None:
        self._client = client
        self.process_id = process_id
        self._registered = False
        self._beat = client.register_script(redis_scripts.BEAT)
        self._claim = client.register_script(redis_scripts.CLAIM_DEAD)
        self._reap_channel = client.register_script(redis_scripts.REAP_CHANNEL)

    def beat(self) -> Liveness:
        """Renew this process's liveness; see :meth:`Backend.beat`.

        A process that was reaped takes a new id: the reaper may still be
        removing entries of the old one.
        """
        found = self._renew()
        if found == "reaped":
            old = self.process_id
            self.process_id = uuid.uuid4().hex
            self._registered = False
            self._renew()
            logger.warning(
                "other processes took %s for dead; registered again as %s",
                old,
                self.process_id,
            )
        elif found == "forgotten":
            logger.warning("Redis forgot %s; registering again", self.process_id)
        return found

    def _renew(self) -> Liveness:
        keys = [
            process_key(self.process_id),
            PROCESSES,
            f"{PREFIX}reaped:{self.process_id}",
        ]
        args = [self.process_id, PROCESS_TTL_SECONDS, int(self._registered)]
        found: Liveness = self._beat(keys, args)
        self._registered = True
        return found

    def retire(self) -> None:
        """Let the other processes reap what this one leaves, at their next look."""
        self._client.delete(process_key(self.process_id))

    def reap(self) -> list[Departure]:
        """Claim the processes that stopped beating; return their members."""
        others = sorted(self._client.smembers(PROCESSES) - {self.process_id})
        if not others:
            return []
        pipe = self._client.pipeline(transaction=False)
        for process in others:
            pipe.exists(process_key(process))
        alive = pipe.execute()
        departed = []
        for process, is_alive in zip(others, alive, strict=True):
            if not is_alive and self._claimed(process):
                departed.extend(self._reap(process))
        return departed

    def _claimed(self, process: str) -> bool:
        args = [process, f"{PREFIX}proc:", f"{PREFIX}reaped:", TOMBSTONE_SECONDS]
        return bool(self._claim([PROCESSES], args))

    def _reap(self, process: str) -> list[Departure]:
        """Remove a claimed dead process's members and connection counts."""
        departed = []
        for field in self._client.hkeys(member_index(process)):
            ws, channel = field.split(":", 1)
            keys = [key(int(ws), "m", channel), key(int(ws), "ch")]
            for value in self._reap_channel(keys, [process, channel]):
                _, presence, _, client = value.split("|", 3)
                departed.append(
                    Departure(int(ws), channel, json.loads(client), presence == "1")
                )
        pipe = self._client.pipeline(transaction=False)
        for ws in self._client.smembers(workspace_index(process)):
            pipe.hdel(key(int(ws), "conns"), process)
        pipe.delete(member_index(process), workspace_index(process))
        pipe.execute()
        logger.info("reaped dead process %s: %s members left", process, len(departed))
        return departed
