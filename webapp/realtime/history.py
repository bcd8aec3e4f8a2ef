"""History entries: the frames a channel keeps, and the frames that replay them."""

from __future__ import annotations

from typing import Any


def with_id(frame: dict[str, Any], id: int | None) -> dict[str, Any]:
    """Return ``frame`` as delivered where history is kept: its id in options."""
    if id is None:
        return frame
    return {**frame, "options": {**frame["options"], "id": id}}


def replay_frame(entry: dict[str, Any]) -> dict[str, Any]:
    """Return the ``message`` or ``event`` frame a history entry was."""
    return {
        key: value for key, value in entry.items() if key not in ("id", "created_at")
    }


def visible_entries(
    entries: list[dict[str, Any]], authenticated: bool
) -> list[dict[str, Any]]:
    """Return the entries a client may see: authenticated-only ones need auth."""
    if authenticated:
        return entries
    return [entry for entry in entries if not entry["options"].get("authenticated")]


def history_frame(channel: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the ``history`` frame carrying ``entries``, oldest first."""
    return {
        "action": "history",
        "options": {"channel": channel},
        "payload": {"history": entries},
    }
