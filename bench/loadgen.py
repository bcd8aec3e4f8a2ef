"""The load generator: run one scenario against running servers, print JSON.

It is meant to run in its own process, pinned to a core the server does not
use, so that the two do not compete for one CPU. ``bench/run.py`` starts it;
by hand:

    python -m bench.loadgen --scenario fanout --transport socketio \\
        --url http://127.0.0.1:8765 --server-pid 1234 --cpu 1 \\
        --params '{"members": 1000, "flood_seconds": 5}'

It prints one JSON object on stdout: the scenario's figures, or ``error``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from bench import chat, fanout, idle
from bench.crowd import Target
from bench.traffic import SetupError

SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "fanout": fanout.run,
    "chat": chat.run,
    "idle": idle.run,
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument(
        "--transport", choices=("socketio", "websocket"), default="socketio"
    )
    parser.add_argument(
        "--url", action="append", required=True, help="server base URL (repeatable)"
    )
    parser.add_argument("--hash", default="", help="the workspace's connection hash")
    parser.add_argument("--server-pid", type=int, action="append", default=[])
    parser.add_argument("--server-cpu", type=int, action="append", default=[])
    parser.add_argument("--cpu", type=int, help="pin this process to that core")
    parser.add_argument("--params", default="{}", help="scenario keyword arguments")
    return parser.parse_args(argv)


def _check_loopback(urls: list[str]) -> None:
    # Load is only ever aimed at this machine.
    for url in urls:
        if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise SystemExit(f"refusing to load a non-loopback address: {url}")


def main(argv: list[str] | None = None) -> int:
    """Run the scenario the arguments name and print its figures as JSON."""
    args = _parse_args(argv)
    _check_loopback(args.url)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    target = Target(
        args.transport,
        args.url,
        args.hash,
        server_pids=args.server_pid,
        server_cores=args.server_cpu,
        generator_cores=[args.cpu] if args.cpu is not None else [],
    )
    scenario = SCENARIOS[args.scenario]

    try:
        result = uvloop.run(scenario(target, **json.loads(args.params)))
    except SetupError as e:
        result = {"error": str(e)}
    result["transport"] = args.transport
    print(json.dumps(result), flush=True)

    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
