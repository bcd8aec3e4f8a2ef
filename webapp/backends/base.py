"""The interface every realtime backend implements."""

from __future__ import annotations

from typing import Protocol


class BackendUnavailableError(RuntimeError):
    """The backend (for example Redis) cannot be reached right now."""


class Backend(Protocol):
    """Storage and fan-out for history and presence."""

    def describe(self) -> str:
        """Return a short description for logs, without credentials."""
        ...

    def check(self) -> None:
        """Make sure the backend is reachable and ready.

        :raises BackendUnavailableError: when it is not.
        """
        ...
