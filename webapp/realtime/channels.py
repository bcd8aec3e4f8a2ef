"""Channel names and channel rule names: what a valid one looks like.

A channel is always named literally. Only a channel rule's name may hold
``*``, as the wildcard of a nested rule (``room:*``); a client or an event
naming a channel with ``*`` is refused, so that no literal name can look like
a pattern to anything that reads it.
"""

from __future__ import annotations

import re

MAX_CHANNEL_LENGTH = 255
# ASCII only: letters, digits and -_.:/@ (no unicode look-alikes, no controls).
_CHANNEL_RE = re.compile(r"[A-Za-z0-9\-_.:/@]+")
_RULE_NAME_RE = re.compile(r"[A-Za-z0-9\-_.:/@*]+")


def _name_problem(name: object, pattern: re.Pattern[str], allowed: str) -> str | None:
    if not isinstance(name, str) or not name:
        return "A channel name is required."
    if len(name) > MAX_CHANNEL_LENGTH:
        return f"A channel name has at most {MAX_CHANNEL_LENGTH} characters."
    if not pattern.fullmatch(name):
        return (
            f"A channel name may use only letters, digits and the characters {allowed}."
        )
    return None


def channel_problem(name: object) -> str | None:
    """Return why ``name`` is not a valid channel name, or None when it is."""
    return _name_problem(name, _CHANNEL_RE, "- _ . : / @")


def rule_name_problem(name: object) -> str | None:
    """Return why ``name`` cannot name a channel rule, or None when it can.

    A rule name is a channel name that may also hold ``*``; where the ``*``
    may stand depends on the rule (see the dashboard's rule form).
    """
    return _name_problem(name, _RULE_NAME_RE, "- _ . : / * @")


def is_valid_channel(name: object) -> bool:
    """Tell whether ``name`` is a valid channel name."""
    return channel_problem(name) is None
