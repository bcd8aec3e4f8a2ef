"""Failed log-in counting per client address, with a temporary lockout."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Flask, current_app

# Addresses whose failures have all expired are swept once this many are tracked,
# so a scan from many addresses cannot grow the tables without bound.
_SWEEP_THRESHOLD = 10_000


class LoginThrottle:
    """Lock an address out after too many failed log-ins in a sliding window.

    ``max_failures`` failures within ``window_seconds`` lock the address for
    ``window_seconds``; a successful log-in clears its count.

    Limitation: the counts live in this process's memory: each worker process
    counts on its own and a restart forgets them, so with N processes an
    address gets up to N times the allowed attempts.
    """

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("max_failures and window_seconds must be positive")
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Return the whole seconds ``address`` must still wait, 0 if none."""
        with self._lock:
            until = self._locked_until.get(address)
            if until is None:
                return 0
            remaining = until - self._clock()
            if remaining <= 0:
                del self._locked_until[address]
                return 0
            return math.ceil(remaining)

    def record_failure(self, address: str) -> bool:
        """Count a failed log-in; return True if it locks ``address`` out."""
        with self._lock:
            now = self._clock()
            failures = self._failures.setdefault(address, deque())
            failures.append(now)
            self._forget_before(failures, now - self.window_seconds)
            if len(failures) >= self.max_failures:
                del self._failures[address]
                self._locked_until[address] = now + self.window_seconds
                return True
            if len(self._failures) > _SWEEP_THRESHOLD:
                self._sweep(now)
            return False

    def reset(self, address: str) -> None:
        """Forget the failures of ``address`` (after a successful log-in)."""
        with self._lock:
            self._failures.pop(address, None)
            self._locked_until.pop(address, None)

    @staticmethod
    def _forget_before(failures: deque[float], cutoff: float) -> None:
        while failures and failures[0] <= cutoff:
            failures.popleft()

    def _sweep(self, now: float) -> None:
        cutoff = now - self.window_seconds
        for address in list(self._failures):
            failures = self._failures[address]
            self._forget_before(failures, cutoff)
            if not failures:
                del self._failures[address]
        for address, until in list(self._locked_until.items()):
            if until <= now:
                del self._locked_until[address]


def _build(app: Flask, clock: Callable[[], float]) -> LoginThrottle:
    # Limitation: one throttle per process, kept in memory; see LoginThrottle.
    return LoginThrottle(
        app.config["LOGIN_MAX_FAILURES"],
        app.config["LOGIN_LOCKOUT_SECONDS"],
        clock=clock,
    )


def init_app(app: Flask, clock: Callable[[], float] = time.monotonic) -> LoginThrottle:
    """Give ``app`` a fresh throttle built from its configuration."""
    throttle = _build(app, clock)
    app.extensions["login_throttle"] = throttle
    return throttle


def get_throttle() -> LoginThrottle:
    """Return the current app's throttle, creating it on first use."""
    extensions = current_app.extensions
    throttle = extensions.get("login_throttle")
    if throttle is None:
        # setdefault keeps one throttle if two first requests race here.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        throttle = extensions.setdefault("login_throttle", _build(app, time.monotonic))
    return throttle
