"""Chat: many small channels where every member sends one message per second.

Sends are spread evenly over each second (every member has its own phase), so
the offered load is steady. Reports offered and delivered deliveries per
second, latency, and deliveries still missing after a bounded drain.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.crowd import Crowd, Target
from bench.measure import percentiles
from bench.traffic import Tally, error_summary, message, open_joined, wait_until
from bench.wire import Connection

_TICK = 0.005


async def run(
    target: Target,
    channels: int = 500,
    members: int = 4,
    seconds: float = 15,
    drain: float = 10,
) -> dict[str, Any]:
    """``channels`` channels of ``members``; each member sends 1 message/s."""
    names = [f"bench:chat:{i // members}" for i in range(channels * members)]
    async with Crowd(target) as crowd:
        clients = await open_joined(crowd, names)
        tally = Tally(keep_latency=True)
        for client in clients:
            client.on_frame = tally

        meter = target.cpu_meter()
        sent, elapsed = await _send_every_second(clients, names, seconds)
        delivered_in_time = tally.delivered
        cpu = meter.read()
        expected = sent * members
        await wait_until(lambda: tally.delivered >= expected, drain)
        errors = error_summary(clients)

    return {
        "channels": channels,
        "members": members,
        "setup_s": round(crowd.setup_seconds, 1),
        "sent": sent,
        "offered_per_s": round(expected / elapsed),
        "delivered_per_s": round(delivered_in_time / elapsed),
        "expected": expected,
        "delivered": tally.delivered,
        "missing": expected - tally.delivered,
        "drain_s": drain,
        **percentiles(tally.latencies),
        **cpu,
        **errors,
    }


async def _send_every_second(
    clients: list[Connection], channels: list[str], seconds: float
) -> tuple[int, float]:
    """Have each client send once a second at its own phase; return (sent, time)."""
    phases = sorted((random.random(), i) for i in range(len(clients)))
    count = len(phases)
    start = time.monotonic()
    end = start + seconds
    position = 0
    while (now := time.monotonic()) < end:
        while True:
            second, slot = divmod(position, count)
            due = start + second + phases[slot][0]
            if due > now or due >= end:
                break
            index = phases[slot][1]
            clients[index].send_frame(message(channels[index], position))
            position += 1
        await asyncio.sleep(_TICK)

    return position, time.monotonic() - start
