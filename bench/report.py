"""The results table: one row per figure, one column per server kind, ratios to bare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, dict[str, Any]]


def _per_cpu(rate_key: str, section: Callable[[dict], dict]) -> Callable[[dict], Any]:
    def figure(kind: dict) -> float | None:
        part = section(kind)
        cpu = part.get("server_cpu")
        return round(part[rate_key] / cpu) if cpu else None

    return figure


def _flood(kind: dict) -> dict:
    return kind["fanout"]["flood"]


def _paced(kind: dict) -> dict:
    return kind["fanout"]["paced"]


def _chat(kind: dict) -> dict:
    return kind["chat"]


def _error_frames(kind: dict) -> int | None:
    counts = [kind.get(name, {}).get("error_frames") for name in ("fanout", "chat")]
    counts = [count for count in counts if count is not None]
    return sum(counts) if counts else None


def _cpu_pair(part: dict) -> str:
    return f"{part.get('server_cpu')} / {part.get('server_core_busy')}"


# (label, how to read the figure from one kind's results)
ROWS: list[tuple[str, Callable[[dict], Any]]] = [
    ("fan-out deliveries/s", lambda k: _flood(k)["deliveries_per_s"]),
    ("  per server CPU-second", _per_cpu("deliveries_per_s", _flood)),
    ("  server CPU / core busy", lambda k: _cpu_pair(_flood(k))),
    ("  generator CPU", lambda k: _flood(k)["generator_cpu"]),
    ("fan-out 20 msg/s p50 ms", lambda k: _paced(k)["p50_ms"]),
    ("fan-out 20 msg/s p99 ms", lambda k: _paced(k)["p99_ms"]),
    ("chat offered deliveries/s", lambda k: _chat(k)["offered_per_s"]),
    ("chat delivered deliveries/s", lambda k: _chat(k)["delivered_per_s"]),
    ("  per server CPU-second", _per_cpu("delivered_per_s", _chat)),
    ("  server CPU / core busy", lambda k: _cpu_pair(_chat(k))),
    ("chat p50 ms", lambda k: _chat(k)["p50_ms"]),
    ("chat p99 ms", lambda k: _chat(k)["p99_ms"]),
    ("chat missing after drain", lambda k: _chat(k)["missing"]),
    ("error frames received", _error_frames),
    ("idle clients joined", lambda k: k["idle"]["joined"]),
    ("idle KiB per connection", lambda k: k["idle"]["kib_per_connection"]),
]


def _read(kind: dict, figure: Callable[[dict], Any]) -> Any:
    try:
        return figure(kind)
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _ratio(value: Any, base: Any) -> str:
    if isinstance(value, int | float) and isinstance(base, int | float) and base:
        return f"{value / base:.2f}"
    return "-"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value >= 100:
        return f"{value:.0f}"
    return str(value)


def table(results: Results, baseline: str = "bare") -> str:
    """Return the results as a Markdown table, with ratios to ``baseline``."""
    kinds = list(results)
    others = [kind for kind in kinds if kind != baseline and baseline in results]
    header = ["figure", *kinds, *(f"{kind}/{baseline}" for kind in others)]
    lines = [_row(header), _row(["---"] * len(header))]
    for label, figure in ROWS:
        values = [_read(results[kind], figure) for kind in kinds]
        base = _read(results[baseline], figure) if baseline in results else None
        ratios = [_ratio(_read(results[kind], figure), base) for kind in others]
        lines.append(_row([label, *map(_cell, values), *ratios]))
    lines.extend(_errors(results))
    lines.extend(_contention(results))

    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _errors(results: Results) -> list[str]:
    notes = []
    for kind, scenarios in results.items():
        for scenario, result in scenarios.items():
            if isinstance(result, dict) and result.get("error"):
                notes.append(f"- {kind} {scenario}: {result['error']}")
    if notes:
        notes.insert(0, "\nFailed:")
    return notes


def _phases(scenarios: dict[str, Any]) -> list[tuple[str, dict]]:
    fanout = scenarios.get("fanout") or {}
    phases = [
        ("fan-out flood", fanout.get("flood")),
        ("fan-out paced", fanout.get("paced")),
    ]
    phases.append(("chat", scenarios.get("chat")))
    return [(name, phase) for name, phase in phases if isinstance(phase, dict)]


def _contention(results: Results, threshold: float = 0.15) -> list[str]:
    """Name the phases where other processes took a large share of our cores."""
    notes = []
    for kind, scenarios in results.items():
        for name, phase in _phases(scenarios):
            shares = [_others(phase, role) for role in ("server", "generator")]
            if max(share or 0 for share in shares) >= threshold:
                notes.append(
                    f"- {kind} {name}: other processes used {shares[0]} of the "
                    f"server's core, {shares[1]} of the generator's"
                )
    if notes:
        notes.insert(0, "\nShared machine: other work ran on the pinned cores.")
    return notes


def _others(phase: dict, role: str) -> float | None:
    own, busy = phase.get(f"{role}_cpu"), phase.get(f"{role}_core_busy")
    if own is None or busy is None:
        return None
    return round(max(0.0, busy - own), 2)
