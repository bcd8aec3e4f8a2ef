"""Fan-out: one publisher, one channel of many members.

First the publisher sends flat out with a bounded number of messages in flight
(it waits for its own copy before going over the window): deliveries per
second. Then it sends at a fixed rate: publish-to-deliver latency.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.crowd import Crowd, Target
from bench.measure import percentiles
from bench.traffic import (
    MESSAGE,
    SetupError,
    Tally,
    error_summary,
    message,
    open_joined,
    wait_until,
)
from bench.wire import Connection


async def run(
    target: Target,
    members: int = 1000,
    flood_seconds: float = 4,
    flood_rounds: int = 3,
    window: int = 32,
    rate: float = 20,
    paced_seconds: float = 10,
    drain: float = 10,
) -> dict[str, Any]:
    """One channel of ``members``; member 0 publishes, first flat out, then paced."""
    channel = "bench:fanout"
    async with Crowd(target) as crowd:
        clients = await open_joined(crowd, [channel] * members)
        await _prime(clients, channel, drain)
        flood = await _flood(
            target, clients, channel, flood_seconds, window, drain, flood_rounds
        )
        paced = await _paced(target, clients, channel, rate, paced_seconds, drain)
        errors = error_summary(clients)

    setup = round(crowd.setup_seconds, 1)
    return {
        "members": members,
        "setup_s": setup,
        "flood": flood,
        "paced": paced,
        **errors,
    }


async def _prime(clients: list[Connection], channel: str, timeout: float) -> None:
    """Send one message and wait until every member has it.

    This proves the joins took effect and lets a server load whatever it loads
    on a channel's first message before anything is measured.
    """
    tally = Tally(keep_latency=False)
    for client in clients:
        client.on_frame = tally
    clients[0].send_frame(message(channel, -1))
    if not await wait_until(lambda: tally.delivered >= len(clients), timeout):
        raise SetupError(
            f"a first message reached {tally.delivered} of {len(clients)} members"
        )


async def _flood(
    target: Target,
    clients: list[Connection],
    channel: str,
    seconds: float,
    window: int,
    drain: float,
    rounds: int,
) -> dict[str, Any]:
    """Flood ``rounds`` times; report the best round and every round's rate.

    On a shared machine other work takes the cores now and then, so the best
    of a few short rounds is steadier than one long one.
    """
    rounds_done = []
    for _ in range(rounds):
        figures, tally = await _flood_round(target, clients, channel, seconds, window)
        await wait_until(lambda t=tally, f=figures: t.delivered >= f["expected"], drain)
        figures["delivered"] = tally.delivered
        rounds_done.append(figures)
    best = max(rounds_done, key=lambda figures: figures["deliveries_per_s"])

    return {
        **best,
        "window": window,
        "rounds_deliveries_per_s": [f["deliveries_per_s"] for f in rounds_done],
        "sent": sum(f["sent"] for f in rounds_done),
        "expected": sum(f["expected"] for f in rounds_done),
        "delivered": sum(f["delivered"] for f in rounds_done),
    }


async def _flood_round(
    target: Target,
    clients: list[Connection],
    channel: str,
    seconds: float,
    window: int,
) -> tuple[dict[str, Any], Tally]:
    """Publish flat out for ``seconds``, ``window`` messages in flight at most."""
    tally = Tally(keep_latency=False)
    publisher = clients[0]
    room = asyncio.Event()
    in_flight = 0

    def on_own_copy(connection: Connection, text: str) -> None:
        nonlocal in_flight
        if MESSAGE in text:
            tally.delivered += 1
            in_flight -= 1
            room.set()

    for client in clients[1:]:
        client.on_frame = tally
    publisher.on_frame = on_own_copy

    sent = 0
    start = time.monotonic()
    warm_until, end = start + min(1.0, seconds / 4), start + seconds
    meter, base, base_time = None, 0, start
    while (now := time.monotonic()) < end:
        if meter is None and now >= warm_until:
            meter, base, base_time = target.cpu_meter(), tally.delivered, now
        while in_flight < window:
            publisher.send_frame(message(channel, sent))
            in_flight += 1
            sent += 1
        room.clear()
        try:
            await asyncio.wait_for(room.wait(), timeout=1.0)
        except TimeoutError:
            continue

    elapsed = time.monotonic() - base_time
    figures = {
        "deliveries_per_s": round((tally.delivered - base) / elapsed),
        **(meter.read() if meter else {}),
        "sent": sent,
        "expected": sent * len(clients),
    }
    return figures, tally


async def _paced(
    target: Target,
    clients: list[Connection],
    channel: str,
    rate: float,
    seconds: float,
    drain: float,
) -> dict[str, Any]:
    """Publish ``rate`` messages per second and record every delivery's latency.

    Limitation: one generator process takes the members' copies one after
    another, so a delivery's latency includes the generator's own time to get
    to it through the copies before it (a few milliseconds for 1000 members;
    the floor server's figures show how much).
    """
    tally = Tally(keep_latency=True)
    for client in clients:
        client.on_frame = tally

    meter = target.cpu_meter()
    start = time.monotonic()
    count = int(rate * seconds)
    for number in range(count):
        await asyncio.sleep(max(0.0, start + number / rate - time.monotonic()))
        clients[0].send_frame(message(channel, number))
    cpu = meter.read()
    expected = count * len(clients)
    await wait_until(lambda: tally.delivered >= expected, drain)

    return {
        "rate": rate,
        "sent": count,
        "expected": expected,
        "delivered": tally.delivered,
        **percentiles(tally.latencies),
        **cpu,
    }
