"""Realtime backends: where history, presence and fan-out live."""

from __future__ import annotations

from webapp.backends.base import Backend, BackendUnavailableError


def create_backend(redis_url: str) -> Backend:
    """Return the Redis backend for a ``redis://`` URL, the in-process one otherwise."""
    if redis_url:
        from webapp.backends.redis import RedisBackend

        return RedisBackend(redis_url)
    from webapp.backends.memory import MemoryBackend

    return MemoryBackend()


__all__ = ["Backend", "BackendUnavailableError", "create_backend"]
