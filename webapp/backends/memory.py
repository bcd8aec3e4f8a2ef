"""The in-process backend: the embedded default, for one process only."""

from __future__ import annotations


class MemoryBackend:
    """Keep history and presence in this process's memory.

    Everything is lost when the process stops, and nothing is shared with
    other processes: run a single process with it, or use Redis.
    """

    def describe(self) -> str:
        return "memory (in-process)"

    def check(self) -> None:
        return None
