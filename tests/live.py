"""Real server processes on loopback ports, for tests that need a live server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def async_mode_env() -> dict[str, str]:
    """Return ``ASYNC_MODE`` for servers when ``TEST_ASYNC_MODE`` asks for one.

    CI runs the realtime tests a second time with ``TEST_ASYNC_MODE=gevent``.
    """
    mode = os.environ.get("TEST_ASYNC_MODE", "").strip()
    return {"ASYNC_MODE": mode} if mode else {}


class ServerProcess:
    """``python app.py`` (or another command) serving on a loopback port."""

    def __init__(
        self,
        instance_path: Path,
        env: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        port: int | None = None,
        own_group: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance_path = instance_path
        self.command = command or [sys.executable, "app.py"]
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "INSTANCE_PATH": str(instance_path),
            "SECRET_KEY": "live-test-secret",
            "DEMO_DATA": "0",
            "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": self.url,
            **async_mode_env(),
            **(env or {}),
        }
        self.log_path = instance_path / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None
        # In a process group of its own, kill() takes its children along
        # (gunicorn's worker with its master).
        self.own_group = own_group

    def start(self, timeout: float = 30) -> ServerProcess:
        self.instance_path.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the descriptor; ours can close.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_group,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            self._kill_group()
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._kill_group()

    def kill(self) -> None:
        """Stop the process (and its group, if its own) without warning."""
        if self.own_group and self.process is not None:
            self._kill_group()
            self.process.wait(10)
            return
        self.stop(signal.SIGKILL)

    def _kill_group(self) -> None:
        """Leave no child of an own-group process behind."""
        if not self.own_group or self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def live_server(tmp_path) -> Iterator[ServerProcess]:
    """A fresh server process on SQLite with the in-process backend."""
    server = ServerProcess(tmp_path / "instance").start()
    yield server
    server.stop()
