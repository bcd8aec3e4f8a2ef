"""Run every benchmark scenario against every server kind and print one table.

    python -m bench.run            # a few minutes
    python -m bench.run --quick    # under a minute

Each scenario gets a fresh server process, pinned to one core, and a load
generator process (``bench.loadgen``) pinned to the other. Everything listens
and connects on 127.0.0.1 only; every step has a time limit, and the servers
are killed when the run ends, however it ends. Raw figures go to
``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.report import table
from bench.servers import (
    KINDS,
    ROOT,
    Placement,
    Servers,
    available,
    forget_seed,
)

RESULTS_DIR = ROOT / "bench" / "results"
# The floor server only shows the generator's ceiling: left out of quick runs.
DEFAULT_KINDS = {"full": "floor,bare,ours,ours-ws", "quick": "bare,ours,ours-ws"}
SCENARIOS = ("fanout", "chat", "idle")
_SETUP_SECONDS = 60

PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "fanout": {
            "members": 1000,
            "flood_seconds": 4,
            "flood_rounds": 3,
            "window": 32,
            "paced_seconds": 10,
            "rate": 20,
            "drain": 10,
        },
        "chat": {"channels": 500, "members": 4, "seconds": 15, "drain": 10},
        "idle": {"connections": 5000, "members": 4},
    },
    "quick": {
        "fanout": {
            "members": 1000,
            "flood_seconds": 2,
            "flood_rounds": 1,
            "window": 32,
            "paced_seconds": 2,
            "rate": 20,
            "drain": 3,
        },
        "chat": {"channels": 500, "members": 4, "seconds": 3, "drain": 3},
        "idle": {"connections": 1000, "members": 4, "settle": 0.5},
    },
}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short, under a minute")
    parser.add_argument(
        "--kinds",
        help="comma-separated server kinds out of "
        + ", ".join(KINDS)
        + " (default: "
        + "; ".join(f"{mode}: {kinds}" for mode, kinds in DEFAULT_KINDS.items())
        + ")",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--generator-cpu", type=int, default=1)
    parser.add_argument(
        "--window",
        type=int,
        help="fan-out flood: messages in flight at most (default 32; 1 measures "
        "a message's full trip to all members before the next one)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of servers and generator; below 0 (root only) keeps "
        "other work on a shared machine from taking their cores",
    )

    return parser.parse_args()


def _time_limit(params: dict[str, Any]) -> float:
    """Return how long a scenario may take before its generator is killed."""
    flood = params.get("flood_seconds", 0) * params.get("flood_rounds", 1)
    other = params.get("paced_seconds", 0) + params.get("seconds", 0)
    drains = (params.get("flood_rounds", 0) + 2) * params.get("drain", 10)
    return _SETUP_SECONDS + flood + other + drains


def run_scenario(
    servers: Servers, scenario: str, params: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Run one load generator process against ``servers``; return its figures."""
    command = [sys.executable, "-m", "bench.loadgen", "--scenario", scenario]
    # One argument: a hash may start with "-", which argparse takes for an option.
    command += ["--transport", servers.transport, f"--hash={servers.connection_hash}"]
    command += ["--cpu", str(args.generator_cpu), "--params", json.dumps(params)]
    command += ["--server-cpu", str(args.server_cpu)]
    for url in servers.urls:
        command += ["--url", url]
    for pid in servers.pids:
        command += ["--server-pid", str(pid)]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            preexec_fn=Placement(args.generator_cpu, args.nice).apply,
            capture_output=True,
            text=True,
            timeout=_time_limit(params),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"generator took over {_time_limit(params):.0f}s"}
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"error": f"generator printed nothing:\n{done.stderr[-2000:]}"}

    return json.loads(lines[-1])


def run_kind(kind: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen scenarios against ``kind``, each on a fresh server."""
    results: dict[str, Any] = {}
    for scenario in args.scenarios.split(","):
        print(f"{kind}: {scenario} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            servers = KINDS[kind](Placement(args.server_cpu, args.nice))
        except RuntimeError as e:
            results[scenario] = {"error": str(e)[-2000:]}
            continue
        try:
            results[scenario] = run_scenario(
                servers, scenario, PARAMS[mode][scenario], args
            )
            if "error" in results[scenario]:
                results[scenario]["server_log"] = servers.log()[-3000:]
        finally:
            servers.stop()
        results[scenario]["wall_s"] = round(time.monotonic() - started, 1)

    return results


def _machine(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    versions = {}
    packages = ("python-socketio", "python-engineio", "eventlet", "picows", "uvloop")
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "mode": mode,
        "cores": os.cpu_count(),
        "server_cpu": args.server_cpu,
        "generator_cpu": args.generator_cpu,
        "nice": args.nice,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "versions": versions,
        "params": PARAMS[mode],
    }


def _save(report: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _stop_on_sigterm() -> None:
    # A plain SIGTERM would skip the finally blocks that kill the servers.
    def raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, raise_exit)


def main() -> int:
    """Run the benchmarks, print the table and save the raw figures."""
    args = _parse_args()
    _stop_on_sigterm()
    mode = "quick" if args.quick else "full"
    if args.window is not None:
        PARAMS[mode]["fanout"]["window"] = max(1, args.window)
    chosen = args.kinds or DEFAULT_KINDS[mode]
    kinds = [kind.strip() for kind in chosen.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise SystemExit(f"unknown server kinds: {', '.join(unknown)}")
    skipped = [kind for kind in kinds if not available(kind)]
    os.sched_setaffinity(0, {args.generator_cpu})

    started = time.monotonic()
    machine = _machine(args, mode)
    try:
        results = {
            kind: run_kind(kind, mode, args) for kind in kinds if kind not in skipped
        }
    finally:
        forget_seed()
    report = {"machine": machine, "skipped": skipped, "results": results}
    report["wall_s"] = round(time.monotonic() - started, 1)
    path = _save(report)

    print(table(results))
    if skipped:
        print(f"\nnot available yet, skipped: {', '.join(skipped)}")
    print(f"\n{mode} run, {report['wall_s']}s; raw figures: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
