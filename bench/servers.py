"""The server kinds under test: how to start each on 127.0.0.1, pinned to a core.

A kind starts one or more processes and says which transport its clients
speak. ``floor`` is ``bench/floor_server.py``, the generator's ceiling;
``bare`` is ``bench/bare_server.py``; ``ours`` is ``python app.py``
with a freshly seeded database; ``ours-ws`` is the same app reached over the
plain WebSocket transport; ``ours-redis`` is one app process on the Redis
backend; ``ours-gunicorn`` is the app as the Procfile serves it; ``ours-x2``
is two app processes sharing a Redis database (Redis itself is the machine's
service and is not pinned).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
SECRET_KEY = "benchmark-secret-key"
REDIS_URL = "redis://127.0.0.1:6379/14"
# The one seeded database of this run: (its directory, its connection hash).
_SEEDED: list[tuple[Path, str]] = []


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Placement:
    """Which core a process runs on, and its niceness (below 0 needs root)."""

    core: int
    nice: int = 0

    def apply(self) -> None:
        """Pin and renice the calling process (used between fork and exec).

        The process is also told to die with the benchmark run, so that no
        server outlives it even if the run itself is killed.
        """
        os.sched_setaffinity(0, {self.core})
        if self.nice:
            os.setpriority(os.PRIO_PROCESS, 0, self.nice)
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Servers:
    """Running server processes of one kind and what clients need to reach them."""

    transport: str
    urls: list[str] = field(default_factory=list)
    connection_hash: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)
    workdir: Path | None = None
    # What proves a process is serving: an HTTP path, or None for a TCP connect.
    ready_path: str | None = "/healthz"

    @property
    def pids(self) -> list[int]:
        """Return the server processes and their children (gunicorn's workers)."""
        pids = []
        for process in self.processes:
            pids.append(process.pid)
            pids.extend(_children(process.pid))
        return pids

    def spawn(
        self,
        command: list[str],
        port: int,
        placement: Placement,
        env: dict[str, str],
    ) -> None:
        """Start one server process on ``port``, placed as ``placement`` says."""
        log = open(self.workdir / f"server-{port}.log", "ab")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=placement.apply,
            # A group of its own: stop() kills gunicorn's workers with it.
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        self.urls.append(f"http://127.0.0.1:{port}")

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until every process answers HTTP, or raise with its log."""
        deadline = time.monotonic() + timeout
        for process, url in zip(self.processes, self.urls, strict=True):
            while not _answers(url, self.ready_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = self.log()
                    self.stop()
                    raise RuntimeError(f"server {url} did not start:\n{log}")
                time.sleep(0.1)

    def log(self) -> str:
        """Return the tail of the servers' output."""
        texts = [p.read_text(errors="replace") for p in self.workdir.glob("*.log")]
        return "\n".join(text[-3000:] for text in texts)

    def stop(self) -> None:
        """Kill the processes and their children; remove the work directory."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _answers(url: str, path: str | None) -> bool:
    if path is None:
        host, port = url.rsplit("/", 1)[-1].split(":")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            return False
        return True
    try:
        with urllib.request.urlopen(url + path, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _start_script(
    script: str, transport: str, ready_path: str | None, placement: Placement
) -> Servers:
    servers = Servers(
        transport,
        workdir=Path(tempfile.mkdtemp(prefix="bench-")),
        ready_path=ready_path,
    )
    port = free_port()
    servers.spawn([sys.executable, script, "--port", str(port)], port, placement, {})
    servers.wait_ready()
    return servers


def start_bare(placement: Placement) -> Servers:
    """Start the bare python-socketio server."""
    ready_path = "/socket.io/?EIO=4&transport=polling"
    return _start_script("bench/bare_server.py", "socketio", ready_path, placement)


def start_floor(placement: Placement) -> Servers:
    """Start the minimal picows room server that shows the generator's ceiling."""
    return _start_script("bench/floor_server.py", "websocket", None, placement)


def _seed(instance: Path) -> str:
    """Seed a database in ``instance`` once; later calls copy it (much faster)."""
    if _SEEDED:
        source, connection_hash = _SEEDED[0]
        shutil.copy(source / "webapp.sqlite", instance / "webapp.sqlite")
        return connection_hash
    seed_dir = Path(tempfile.mkdtemp(prefix="bench-seed-"))
    connection_hash = _run_seed(seed_dir)
    _SEEDED.append((seed_dir, connection_hash))
    return _seed(instance)


def forget_seed() -> None:
    """Remove the seeded database kept for copying."""
    while _SEEDED:
        shutil.rmtree(_SEEDED.pop()[0], ignore_errors=True)


def _run_seed(instance: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.seed", str(instance)],
        cwd=ROOT,
        env={**os.environ, "INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET_KEY},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"seeding failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def start_ours(
    placement: Placement,
    transport: str = "socketio",
    processes: int = 1,
    redis_backend: bool = False,
) -> Servers:
    """Start ``python app.py`` ``processes`` times.

    Several processes share Redis; one uses it only with ``redis_backend``.
    """
    servers = Servers(transport, workdir=Path(tempfile.mkdtemp(prefix="bench-")))
    instance = servers.workdir / "instance"
    instance.mkdir()
    servers.connection_hash = _seed(instance)
    env = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET_KEY,
        "DEMO_DATA": "0",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
    }
    if processes > 1 or redis_backend:
        _flush_redis()
        env["REDIS_URL"] = REDIS_URL
    for _ in range(processes):
        port = free_port()
        env = {**env, "PORT": str(port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        servers.spawn([sys.executable, "app.py"], port, placement, env)
    servers.wait_ready()
    return servers


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def start_gunicorn(placement: Placement) -> Servers:
    """Start the app as the Procfile does: gunicorn, one eventlet worker."""
    servers = Servers("socketio", workdir=Path(tempfile.mkdtemp(prefix="bench-")))
    instance = servers.workdir / "instance"
    instance.mkdir()
    servers.connection_hash = _seed(instance)
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        *("--worker-class", "eventlet", "--workers", "1"),
        *("--worker-connections", "10000", "--bind", f"127.0.0.1:{port}"),
        "app:app",
    ]
    env = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    servers.spawn(command, port, placement, env)
    servers.wait_ready()
    return servers


def _flush_redis() -> None:
    """Empty the Redis database kept for benchmarks, so runs do not pile up."""
    redis.Redis.from_url(REDIS_URL).flushdb()


KINDS: dict[str, Callable[[Placement], Servers]] = {
    "floor": start_floor,
    "bare": start_bare,
    "ours": start_ours,
    "ours-ws": lambda placement: start_ours(placement, transport="websocket"),
    "ours-redis": lambda placement: start_ours(placement, redis_backend=True),
    "ours-gunicorn": start_gunicorn,
    "ours-x2": lambda placement: start_ours(placement, processes=2),
}


def available(kind: str) -> bool:
    """Tell whether the code a kind needs exists yet."""
    needs = {
        "floor": [],
        "bare": [],
        "ours": ["webapp/transports/socketio_rt.py"],
        "ours-ws": ["webapp/transports/websocket_rt.py"],
        "ours-redis": ["webapp/transports/socketio_rt.py", "webapp/backends/redis.py"],
        "ours-gunicorn": ["webapp/transports/socketio_rt.py", "Procfile"],
        "ours-x2": ["webapp/transports/socketio_rt.py", "webapp/backends/redis.py"],
    }[kind]
    return all((ROOT / path).exists() for path in needs)
