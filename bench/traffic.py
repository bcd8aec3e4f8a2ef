"""What the scenarios share: message frames, delivery tallies, setup and waiting.

Every message payload carries ``sent_ns``, the sender's
``time.perf_counter_ns()``; senders and receivers live in this one process, so
a receiver subtracts it from its own clock to get publish-to-deliver latency.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from bench.crowd import Crowd
from bench.wire import Connection

_FILLER = "x" * 48
# Cheap test on the raw text: only message frames carry this word quoted.
MESSAGE = '"message"'
# Reading the timestamp with a regular expression is several times cheaper
# than decoding the whole frame, and the generator's time is what limits it.
_SENT_NS = re.compile(r'"sent_ns":\s*(\d+)')


class SetupError(RuntimeError):
    """Clients could not be connected or joined, so the scenario cannot run."""


def message(channel: str, number: int) -> dict[str, Any]:
    """Return a message frame for ``channel`` stamped with the time of now."""
    return {
        "action": "message",
        "options": {"channel": channel},
        "payload": {"sent_ns": time.perf_counter_ns(), "n": number, "text": _FILLER},
    }


async def open_joined(crowd: Crowd, channels: list[str]) -> list[Connection]:
    """Open one client per entry of ``channels`` and join it there, or fail."""
    clients = await crowd.open(len(channels))
    if len(clients) < len(channels):
        raise SetupError(
            f"opened {len(clients)} of {len(channels)} connections "
            f"({crowd.first_failure})"
        )
    if await crowd.join(list(zip(clients, channels, strict=True))):
        raise SetupError(f"joins failed ({crowd.first_failure})")
    return clients


async def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    """Poll ``done()`` every 50 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


class Tally:
    """Counts message deliveries and, when asked to, their latencies."""

    def __init__(self, keep_latency: bool) -> None:
        self.keep_latency = keep_latency
        self.delivered = 0
        self.latencies: list[int] = []

    def __call__(self, connection: Connection, text: str) -> None:
        if MESSAGE not in text:
            return
        self.delivered += 1
        if self.keep_latency:
            now = time.perf_counter_ns()
            found = _SENT_NS.search(text)
            if found:
                self.latencies.append(now - int(found.group(1)))


def error_summary(clients: list[Connection]) -> dict[str, Any]:
    """Count the error frames the clients received, and name their codes."""
    codes = sorted({code for client in clients for code in client.errors})
    return {
        "error_frames": sum(len(client.errors) for client in clients),
        "error_codes": codes,
    }
