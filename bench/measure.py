"""Small measuring helpers: percentiles, CPU use of two processes, resident memory."""

from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK")


def percentiles(values_ns: list[int]) -> dict[str, float | None]:
    """Return p50, p99 and max of nanosecond samples, in milliseconds."""
    if not values_ns:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values_ns)

    def at(fraction: float) -> float:
        index = min(len(ordered) - 1, int(fraction * len(ordered)))
        return round(ordered[index] / 1e6, 2)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)}


def rss_kib(pid: int) -> int:
    """Return the resident set size of process ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces; the fields after its ')' are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def total_rss_kib(pids: list[int]) -> int:
    """Return the summed resident set size of several server processes, in KiB."""
    return sum(rss_kib(pid) for pid in pids)


def _busy_seconds(cores: list[int]) -> float:
    """Return the time ``cores`` spent busy (anything but idle and iowait)."""
    wanted = {f"cpu{core}" for core in cores}
    busy = 0
    with open("/proc/stat") as stat:
        for line in stat:
            name, *ticks = line.split()
            if name in wanted:
                values = [int(tick) for tick in ticks]
                busy += sum(values) - values[3] - values[4]
    return busy / _TICKS


class CpuMeter:
    """Share of one core used by this process and by the servers over a window.

    The server share adds up every server process, so two busy processes on
    two cores read as up to 2.0. A core's ``..._core_busy`` is how busy it
    was with anything at all: well above the process's own share means other
    processes on this shared machine took part of that core.
    """

    def __init__(
        self,
        server_pids: list[int],
        server_cores: list[int],
        generator_cores: list[int],
    ) -> None:
        self.server_pids = server_pids
        self.server_cores = server_cores
        self.generator_cores = generator_cores
        self._start = self._sample()

    def _sample(self) -> tuple[float, ...]:
        return (
            time.monotonic(),
            time.process_time(),
            sum(_cpu_seconds(pid) for pid in self.server_pids),
            _busy_seconds(self.server_cores),
            _busy_seconds(self.generator_cores),
        )

    def read(self) -> dict[str, float | None]:
        """Return CPU shares (1.0 is one full core) since the meter started."""
        start, now = self._start, self._sample()
        elapsed = max(now[0] - start[0], 1e-9)
        own, server, server_core, own_core = (
            round((now[i] - start[i]) / elapsed, 2) for i in (1, 2, 3, 4)
        )
        return {
            "generator_cpu": own,
            "generator_core_busy": own_core if self.generator_cores else None,
            "server_cpu": server if self.server_pids else None,
            "server_core_busy": server_core if self.server_cores else None,
        }
