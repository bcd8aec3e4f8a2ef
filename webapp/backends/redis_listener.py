"""The Redis bus listener: one subscription per process, kept alive forever.

It hands every message of the other processes to the engine, skips this
process's own echoes, and resubscribes with capped back-off whenever the
subscription is lost, logging an outage at ERROR once rather than per retry.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from webapp.backends.base import ClusterMessage, MessageHandler, Sleep
from webapp.backends.bus import decode_message

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 4.0
# How long get_message waits, so that a stop is noticed within it.
POLL_SECONDS = 1.0


class BusListener:
    """Listen on one Redis pub/sub channel in a background task."""

    def __init__(self, client: redis.Redis, channel: str, describe: str) -> None:
        self._client = client
        self._channel = channel
        self._describe = describe
        # Prefixes of this process's own messages (ids it had, and has).
        self.own_echoes: tuple[str, ...] = ()
        self._generation = 0
        self._subscribed = False
        self._running = False
        # Subscriptions lost in a row: sets the back-off and what is logged.
        self._failures = 0

    @property
    def running(self) -> bool:
        """Tell whether a listener task was started and not stopped."""
        return self._running

    @property
    def subscribed(self) -> bool:
        """Tell whether Redis confirmed the subscription and it still holds."""
        return self._subscribed

    def start(self, spawn: Any, sleep: Sleep, on_message: MessageHandler) -> None:
        """Start listening in a task made by ``spawn``; a running one is kept."""
        if self._running:
            return
        self._running = True
        self._generation += 1
        generation = self._generation
        spawn(lambda: self._listen(generation, sleep, on_message))

    def stop(self) -> None:
        """Let the task end within :data:`POLL_SECONDS`."""
        self._running = False
        self._generation += 1
        self._subscribed = False

    def _current(self, generation: int) -> bool:
        return self._running and generation == self._generation

    def _listen(
        self, generation: int, sleep: Sleep, on_message: MessageHandler
    ) -> None:
        while self._current(generation):
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                self._pump(generation, pubsub, on_message)
            except redis.RedisError as exc:
                self._failed(type(exc).__name__)
            except Exception:
                self._failures += 1
                logger.exception("Redis listener failed")
            finally:
                self._subscribed = False
                pubsub.close()
            if self._current(generation):
                exponent = max(self._failures - 1, 0)
                sleep(min(FIRST_BACKOFF_SECONDS * 2**exponent, MAX_BACKOFF_SECONDS))

    def _failed(self, reason: str) -> None:
        self._failures += 1
        if self._failures == 1:
            logger.warning("Redis listener lost (%s); resubscribing", reason)
        elif self._failures == 2:
            # Once per outage: the retries that follow log at DEBUG only.
            logger.error(
                "cannot hear the other server processes: %s is not reachable "
                "(%s); /healthz answers 503 until it is back",
                self._describe,
                reason,
            )
        else:
            logger.debug("Redis listener still down (%s)", reason)

    def _pump(self, generation: int, pubsub: Any, on_message: MessageHandler) -> None:
        while self._current(generation):
            raw = pubsub.get_message(timeout=POLL_SECONDS)
            if raw is None:
                continue
            kind = raw.get("type")
            if kind == "message":
                self._dispatch(raw["data"], on_message)
            elif kind == "subscribe":
                self._subscribed = True
                self._heard_again(on_message)

    def _heard_again(self, on_message: MessageHandler) -> None:
        if not self._failures:
            logger.info("listening on Redis %s", self._channel)
            return
        logger.info("hearing the other server processes again")
        self._failures = 0
        # Settings messages sent while this process was deaf are lost.
        try:
            on_message(ClusterMessage("resync", 0))
        except Exception:
            logger.exception("failed to reload settings after resubscribing")

    def _dispatch(self, data: str, on_message: MessageHandler) -> None:
        # This process delivered its own messages already.
        if data.startswith(self.own_echoes):
            return
        try:
            on_message(decode_message(data))
        except Exception:
            logger.exception("failed to handle a message from another process")
