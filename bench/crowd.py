"""Opening and joining many benchmark clients at once, with bounded concurrency."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from picows import WSError

from bench.measure import CpuMeter
from bench.wire import TRANSPORTS, Connection


@dataclass
class Target:
    """Where the clients connect: one or more server processes of one kind.

    With several URLs, client ``i`` connects to ``urls[i % len(urls)]``, so a
    channel's members are split across the processes.
    """

    transport: str
    urls: list[str]
    connection_hash: str
    server_pids: list[int] = field(default_factory=list)
    server_cores: list[int] = field(default_factory=list)
    generator_cores: list[int] = field(default_factory=list)

    def cpu_meter(self) -> CpuMeter:
        """Start measuring CPU use of the generator and of these servers."""
        return CpuMeter(self.server_pids, self.server_cores, self.generator_cores)


class Crowd:
    """Many client connections, dropped together when the scenario ends."""

    def __init__(self, target: Target, concurrency: int = 64, timeout: float = 5):
        self.target = target
        self.concurrency = concurrency
        self.timeout = timeout
        self.failures = 0
        self.first_failure = ""
        # Time spent opening and joining, to tell setup from measuring.
        self.setup_seconds = 0.0
        self._opened: list[Connection] = []

    async def __aenter__(self) -> Crowd:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # The server is killed right after a scenario, so the sockets are
        # dropped rather than closed one by one with a WebSocket handshake.
        for connection in self._opened:
            if connection.transport is not None:
                connection.transport.disconnect(graceful=False)

    async def open(self, count: int, max_failures: int = 20) -> list[Connection]:
        """Open ``count`` connections; give up after ``max_failures`` failures."""
        gate = asyncio.Semaphore(self.concurrency)
        kind = TRANSPORTS[self.target.transport]
        urls = self.target.urls

        async def open_one(index: int) -> Connection | None:
            async with gate:
                if self.failures >= max_failures:
                    return None
                connection = kind(urls[index % len(urls)])
                try:
                    await asyncio.wait_for(
                        connection.open(self.target.connection_hash), self.timeout
                    )
                except (OSError, TimeoutError, RuntimeError, WSError) as e:
                    self._fail(e)
                    return None
                self._opened.append(connection)
                return connection

        started = time.monotonic()
        opened = await asyncio.gather(*(open_one(i) for i in range(count)))
        self.setup_seconds += time.monotonic() - started
        return [connection for connection in opened if connection is not None]

    async def join(self, memberships: list[tuple[Connection, str]]) -> int:
        """Join each connection to its channel; return how many joins failed."""
        gate = asyncio.Semaphore(self.concurrency)
        failed = 0

        async def join_one(connection: Connection, channel: str) -> None:
            nonlocal failed
            async with gate:
                try:
                    await connection.join(channel, self.timeout)
                except (TimeoutError, RuntimeError) as e:
                    failed += 1
                    self._fail(e)

        started = time.monotonic()
        await asyncio.gather(*(join_one(c, channel) for c, channel in memberships))
        self.setup_seconds += time.monotonic() - started
        return failed

    def _fail(self, error: BaseException) -> None:
        self.failures += 1
        if not self.first_failure:
            detail = str(error) or "no answer in time"
            self.first_failure = f"{type(error).__name__}: {detail}"[:300]
