"""The Redis backend: history, presence and fan-out shared by every process."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from webapp.backends.base import BackendUnavailableError


class RedisBackend:
    """Keep history and presence in Redis."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"redis at {parts.hostname}:{parts.port or 6379}"

    def check(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise BackendUnavailableError(
                f"Redis is not reachable: {type(exc).__name__}"
            ) from None
