"""Soak test: hundreds of clients on both transports for a while, nothing lost.

    python -m bench.soak --clients 300 --seconds 180
    python -m bench.soak --clients 100 --seconds 20 --warmup 3    # CI's short run

It starts ``python app.py`` on a loopback port with a fresh database (on the
in-process backend, or on Redis with ``--redis-url``), warms it up and takes
its memory as the baseline. Then every client, half of them Socket.IO and half
plain WebSocket, joins a channel, chats with sequence numbers, leaves and joins
again, disconnects and resumes with ``since``, until time is up
(``bench/soak_client.py``). At the end it checks that every session received
every message exactly once and each sender's messages in order, that the
presence of every channel is the same everywhere and matches its members, and
that the server's memory came back near its baseline once everyone left.
It prints the figures and exits 1 on any loss, duplicate or inconsistency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from bench.measure import rss_kib
from bench.servers import ROOT, free_port
from bench.soak_client import Registry, SoakClient

SECRET_KEY = "soak-secret-key"
RULE = "soak:*"
# Enough to resume any reconnect of the soak; small enough for the warm-up to
# fill, so that the history kept is part of the memory baseline.
HISTORY_SIZE = 200
SETTLE_SECONDS = 2


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--members", type=int, default=20, help="clients a channel")
    parser.add_argument("--seconds", type=float, default=120, help="soak duration")
    parser.add_argument("--warmup", type=float, default=10, help="warm-up duration")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s a client")
    parser.add_argument("--redis-url", default="", help="use the Redis backend")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--memory-tolerance",
        type=float,
        default=0.10,
        help="allowed growth of the server's memory over its baseline (fraction)",
    )
    parser.add_argument("--memory-slack-mib", type=float, default=4.0)
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    return parser.parse_args(argv)


class Server:
    """``python app.py`` on a loopback port with a freshly seeded database."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PUBLIC_BASE_URL": self.url,
            "INSTANCE_PATH": str(workdir),
            "SECRET_KEY": SECRET_KEY,
            "DEMO_DATA": "0",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": redis_url,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"

    def start(self, timeout: float = 30) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log()
                    raise RuntimeError("the server did not start:\n" + log) from None
                time.sleep(0.1)

    def rss_mib(self) -> float:
        return rss_kib(self.process.pid) / 1024

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def seed(workdir: Path, clients: int) -> str:
    """Add a workspace for the soak to the server's database; return its hash."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Builder, ChannelRule, Workspace

    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'webapp.sqlite'}",
            "ASYNC_MODE": "threading",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        builder = Builder(email="soak@example.com", password_hash="!")
        workspace = Workspace(
            owner=builder,
            name="Soak",
            realtime_enabled=True,
            realtime_state="ready",
            max_connections=4 * clients,
            frames_per_second=100,
            idle_timeout_seconds=3600,
            channel_rules=[
                ChannelRule(
                    name=RULE, nested=True, presence=True, history_size=HISTORY_SIZE
                )
            ],
        )
        db.session.add(workspace)
        db.session.commit()
        connection_hash = workspace.connection_hash
        db.session.remove()
        db.engine.dispose()
    return connection_hash


def make_clients(
    args: argparse.Namespace,
    url: str,
    connection_hash: str,
    prefix: str,
    rate: float,
    registry: Registry,
) -> list[SoakClient]:
    """Return the clients, alternating transports, ``members`` to a channel."""
    rng = random.Random(f"{args.seed}{prefix}")
    transports = ("socketio", "websocket")
    return [
        SoakClient(
            key=f"{prefix}{index}",
            transport=transports[index % 2],
            url=url,
            connection_hash=connection_hash,
            channel=f"soak:{index // args.members}",
            rng=random.Random(rng.random()),
            rate=rate,
            registry=registry,
        )
        for index in range(args.clients)
    ]


async def run_phase(clients: list[SoakClient], seconds: float) -> list[str]:
    """Run every client for ``seconds``, then settle; return what went wrong."""

    async def run_one(client: SoakClient) -> None:
        # Spread the first connections: the server's listen backlog is small.
        await asyncio.sleep(client.rng.uniform(0, 2))
        await client.run(seconds)

    results = await asyncio.gather(
        *(run_one(c) for c in clients), return_exceptions=True
    )
    problems = _failed(clients, results)
    live = [c for c, r in zip(clients, results, strict=True) if r is None]
    # Everyone's last messages are delivered once each has its marker back.
    flushed = await asyncio.gather(*(c.flush() for c in live), return_exceptions=True)
    return problems + _failed(live, flushed)


def _failed(clients: list[SoakClient], results: list[Any]) -> list[str]:
    return [
        f"{client.key}: {result!r}"
        for client, result in zip(clients, results, strict=True)
        if result is not None
    ]


async def check_presence(clients: list[SoakClient]) -> tuple[int, int]:
    """Return how many kept views and fresh ``presence_full`` frames are wrong."""
    members: dict[str, set[str]] = {}
    for client in clients:
        members.setdefault(client.channel, set()).add(client.socket_id)
    views = sum(set(c.presence) != members[c.channel] for c in clients)
    fulls = await asyncio.gather(*(c.refresh_presence() for c in clients))
    wrong = sum(
        set(full) != members[c.channel] for c, full in zip(clients, fulls, strict=True)
    )
    return views, wrong


def check_messages(clients: list[SoakClient], registry: Registry) -> dict[str, int]:
    """Add up losses, duplicates and disorder over every session of every client."""
    totals: Counter[str] = Counter()
    for client in clients:
        client.end_session()
        for session in client.sessions:
            totals["sessions"] += 1
            totals["received"] += session.received
            totals["losses"] += session.losses()
            totals["duplicates"] += session.duplicates
            totals["out_of_order"] += session.out_of_order
    sent = {(c.channel, c.key, seq) for c in clients for seq in c.sent}
    totals["sent"] = len(sent)
    # A message stored twice has two ids; one nobody received has none.
    totals["duplicates"] += registry.conflicts
    totals["losses"] += len(sent - registry.ids.keys())
    return dict(totals)


async def sample_peak(server: Server, peak: list[float], stop: asyncio.Event):
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss_mib())
        await asyncio.sleep(0.5)


async def soak(args: argparse.Namespace, server: Server, connection_hash: str):
    """Warm up, take the baseline, soak, check; return the figures."""
    # The warm-up fills every channel's history, which the server then keeps.
    fill_rate = 1.5 * HISTORY_SIZE / (args.members * args.warmup)
    warm = make_clients(
        args, server.url, connection_hash, "w", max(args.rate, fill_rate), Registry()
    )
    warm_problems = await run_phase(warm, args.warmup)
    await asyncio.gather(*(c.disconnect() for c in warm))
    await asyncio.sleep(SETTLE_SECONDS)
    baseline = server.rss_mib()

    peak, stop = [baseline], asyncio.Event()
    sampler = asyncio.create_task(sample_peak(server, peak, stop))
    registry = Registry()
    clients = make_clients(args, server.url, connection_hash, "s", args.rate, registry)
    started = time.monotonic()
    problems = warm_problems + await run_phase(clients, args.seconds)
    elapsed = time.monotonic() - started
    live = [c for c in clients if c.connection is not None and c.session is not None]
    views, fulls = await check_presence(live)
    for client in clients:
        await client.disconnect()
    await asyncio.sleep(SETTLE_SECONDS)
    final = server.rss_mib()
    stop.set()
    await sampler

    counts: Counter[str] = Counter()
    for client in clients:
        counts.update(client.counts)
    errors = Counter(code for c in clients + warm for code in c.error_codes)
    return {
        "clients": len(clients),
        "socketio_clients": sum(c.transport == "socketio" for c in clients),
        "channels": len({c.channel for c in clients}),
        "seconds": round(elapsed, 1),
        **check_messages(clients, registry),
        "deliveries": counts["delivered"],
        "joins": counts["joins"],
        "leaves": counts["leaves"],
        "reconnects": counts["reconnects"],
        "resume_fallbacks": counts["resume_fallbacks"],
        "outside_session": counts["outside_session"],
        "presence_views_wrong": views,
        "presence_full_wrong": fulls,
        "error_frames": dict(errors),
        "stuck_clients": problems,
        "memory_baseline_mib": round(baseline, 1),
        "memory_peak_mib": round(peak[0], 1),
        "memory_final_mib": round(final, 1),
    }


def failures(figures: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Return what makes the run fail, in words."""
    found = [
        f"{name}: {figures[name]}"
        for name in (
            "losses",
            "duplicates",
            "out_of_order",
            "resume_fallbacks",
            "outside_session",
            "presence_views_wrong",
            "presence_full_wrong",
        )
        if figures[name]
    ]
    if figures["error_frames"]:
        found.append(f"error frames: {figures['error_frames']}")
    if figures["stuck_clients"]:
        found.append(f"stuck clients: {figures['stuck_clients'][:5]}")
    allowed = (
        figures["memory_baseline_mib"] * (1 + args.memory_tolerance)
        + args.memory_slack_mib
    )
    if figures["memory_final_mib"] > allowed:
        found.append(
            f"memory did not come back: {figures['memory_final_mib']} MiB after, "
            f"{figures['memory_baseline_mib']} MiB baseline (allowed {allowed:.1f})"
        )
    return found


def report(figures: dict[str, Any]) -> str:
    f = figures
    return "\n".join(
        [
            f"clients      {f['clients']} ({f['socketio_clients']} Socket.IO, "
            f"{f['clients'] - f['socketio_clients']} plain WebSocket) "
            f"in {f['channels']} channels, {f['seconds']} s",
            f"membership   {f['joins']} joins, {f['leaves']} leaves, "
            f"{f['reconnects']} reconnects (resumed with since), "
            f"{f['sessions']} sessions",
            f"messages     {f['sent']} sent, {f['deliveries']} deliveries, "
            f"{f['received']} checked",
            f"losses       {f['losses']}",
            f"duplicates   {f['duplicates']}",
            f"disorder     {f['out_of_order']} (per sender)",
            f"presence     {f['presence_views_wrong']} kept views and "
            f"{f['presence_full_wrong']} presence_full frames wrong",
            f"errors       {f['error_frames'] or 'none'}; "
            f"{len(f['stuck_clients'])} stuck clients",
            f"memory       baseline {f['memory_baseline_mib']} MiB, peak "
            f"{f['memory_peak_mib']} MiB, after all left "
            f"{f['memory_final_mib']} MiB",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.redis_url and not args.redis_url.startswith("redis://127.0.0.1:"):
        raise SystemExit("the soak only ever talks to this machine (127.0.0.1)")
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    server = Server(workdir, args.redis_url)
    try:
        if args.redis_url:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        server.start()
        connection_hash = seed(workdir, args.clients)
        figures = asyncio.run(soak(args, server, connection_hash))
    finally:
        server.stop()
    problems = failures(figures, args)
    print(json.dumps(figures) if args.json else report(figures))
    if problems:
        print("FAILED: " + "; ".join(problems))
        print(server.log())
    else:
        print("OK")
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
