"""Idle memory: server RSS before and after many idle clients, each in one channel."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.crowd import Crowd, Target
from bench.measure import total_rss_kib

_WARM_UP_CLIENTS = 8


async def run(
    target: Target,
    connections: int = 5000,
    members: int = 4,
    settle: float = 2,
) -> dict[str, Any]:
    """Open ``connections`` clients, ``members`` per channel, and weigh the server."""
    await _warm_up(target, settle)
    async with Crowd(target) as crowd:
        before = total_rss_kib(target.server_pids)
        clients = await crowd.open(connections, max_failures=50)
        names = [f"bench:idle:{i // members}" for i in range(len(clients))]
        join_failures = await crowd.join(list(zip(clients, names, strict=True)))
        await asyncio.sleep(settle)
        after = total_rss_kib(target.server_pids)

    joined = len(clients) - join_failures
    if not joined:
        return {"error": f"no client joined ({crowd.first_failure})"}
    return {
        "connections": connections,
        "opened": len(clients),
        "joined": joined,
        "setup_s": round(crowd.setup_seconds, 1),
        "failure": crowd.first_failure,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / joined, 1),
    }


async def _warm_up(target: Target, settle: float) -> None:
    """Open and drop a few clients so lazy imports and caches are not counted."""
    async with Crowd(target) as crowd:
        clients = await crowd.open(_WARM_UP_CLIENTS)
        await crowd.join([(client, "bench:warm-up") for client in clients])
    await asyncio.sleep(settle)
