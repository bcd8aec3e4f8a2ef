"""Cluster messages on the Redis bus: compact JSON tagged with their sender.

A bus message is one JSON object: ``o`` the sending process, ``k`` the kind,
``w`` the workspace, then where they apply ``c`` channel, ``a`` audience,
``t`` target socket id, ``i`` history id and ``f`` the frame. The sender comes
first so a process can spot its own echoes without decoding them.
"""

from __future__ import annotations

import json
from typing import Any

from webapp.backends.base import ClusterMessage

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(value: Any) -> str:
    """Return compact JSON text."""
    return _encoder.encode(value)


def echo_prefix(process_id: str) -> str:
    """Return how every bus message of ``process_id`` begins."""
    return '{"o":' + encode_json(process_id) + ","


def message_head(message: ClusterMessage, process_id: str) -> str:
    """Return the message's fields but the id and frame, without the closing brace.

    The history script appends ``,"i":<id>,"f":<frame>}`` to it.
    """
    head: dict[str, Any] = {
        "o": process_id,
        "k": message.kind,
        "w": message.workspace_id,
    }
    if message.channel:
        head["c"] = message.channel
    if message.audience:
        head["a"] = message.audience
    if message.target:
        head["t"] = message.target
    return encode_json(head)[:-1]


def encode_message(message: ClusterMessage, process_id: str) -> str:
    """Return the bus text of a message that carries no history id."""
    head = message_head(message, process_id)
    if message.frame is None:
        return head + "}"
    return head + ',"f":' + encode_json(message.frame) + "}"


def decode_message(data: str) -> ClusterMessage:
    """Return the :class:`ClusterMessage` a bus text carries."""
    raw = json.loads(data)
    frame = raw.get("f")
    if frame is not None:
        # Stored entries carry their time; the frame as delivered does not.
        frame.pop("created_at", None)
    return ClusterMessage(
        raw["k"],
        raw["w"],
        raw.get("c", ""),
        frame,
        raw.get("a", 0),
        raw.get("t", ""),
        raw.get("i"),
        origin=raw["o"],
    )
