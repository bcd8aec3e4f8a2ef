"""Channel names: what a valid one looks like."""

from __future__ import annotations

import re

MAX_CHANNEL_LENGTH = 255
# ASCII only: letters, digits and -_.:/*@ (no unicode look-alikes, no controls).
_CHANNEL_RE = re.compile(r"[A-Za-z0-9\-_.:/*@]+")


def channel_problem(name: object) -> str | None:
    """Return why ``name`` is not a valid channel name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "A channel name is required."
    if len(name) > MAX_CHANNEL_LENGTH:
        return f"A channel name has at most {MAX_CHANNEL_LENGTH} characters."
    if not _CHANNEL_RE.fullmatch(name):
        return (
            "A channel name may use only letters, digits "
            "and the characters - _ . : / * @."
        )
    return None


def is_valid_channel(name: object) -> bool:
    """Tell whether ``name`` is a valid channel name."""
    return channel_problem(name) is None
