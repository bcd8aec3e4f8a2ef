"""Channel rules and workspace snapshots: which rule applies and what it grants.

A :class:`WorkspaceSnapshot` is an immutable copy of the settings the realtime
server needs, loaded once and replaced whole when the builder changes them, so
nothing on the path of a frame reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PUBLISH_MODES = ("off", "any", "authenticated")
RECEIVE_MODES = ("everyone", "authenticated")


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """What clients may do in the channels a rule matches."""

    name: str
    nested: bool = False
    anonymous_allowed: bool = True
    presence: bool = False
    history_size: int = 0
    publish: str = "any"
    direct: str = "off"
    receive: str = "everyone"

    def __post_init__(self) -> None:
        if self.publish not in PUBLISH_MODES or self.direct not in PUBLISH_MODES:
            raise ValueError(f"publish/direct must be one of {PUBLISH_MODES}")
        if self.receive not in RECEIVE_MODES:
            raise ValueError(f"receive must be one of {RECEIVE_MODES}")
        if self.history_size < 0:
            raise ValueError("history_size must not be negative")

    @property
    def is_prefix(self) -> bool:
        """Tell whether the rule matches channels by prefix (``room:*``)."""
        return self.nested and self.name.endswith("*")


@dataclass(frozen=True, slots=True)
class Limits:
    """A workspace's limits on its clients."""

    max_connections: int = 1000
    max_frame_bytes: int = 64 * 1024
    frames_per_second: int = 20
    idle_timeout_seconds: int = 300


@dataclass(frozen=True, slots=True)
class WorkspaceSnapshot:
    """The realtime settings of one workspace at one moment."""

    id: int
    enabled: bool
    connection_hash: str
    limits: Limits = field(default_factory=Limits)
    rules: tuple[ChannelRule, ...] = ()
    _exact: dict[str, ChannelRule] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _prefixes: tuple[ChannelRule, ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        # Indexes built once, so finding a rule is a dict lookup and a short scan.
        exact = {rule.name: rule for rule in self.rules if not rule.is_prefix}
        prefixes = sorted(
            (rule for rule in self.rules if rule.is_prefix),
            key=lambda rule: len(rule.name),
            reverse=True,
        )
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixes", tuple(prefixes))

    def with_rules(self, rules: Iterable[ChannelRule]) -> WorkspaceSnapshot:
        """Return a copy of the snapshot with other channel rules."""
        return WorkspaceSnapshot(
            self.id, self.enabled, self.connection_hash, self.limits, tuple(rules)
        )


def find_rule(snapshot: WorkspaceSnapshot, channel: str) -> ChannelRule | None:
    """Return the rule applying to ``channel``: exact name, else longest prefix."""
    rule = snapshot._exact.get(channel)
    if rule is not None:
        return rule
    for rule in snapshot._prefixes:
        if channel.startswith(rule.name[:-1]):
            return rule
    return None


def _granted(mode: str, authenticated: bool) -> bool:
    return mode == "any" or (mode == "authenticated" and authenticated)


def may_join(rule: ChannelRule, authenticated: bool) -> bool:
    """Tell whether a client may join the channels of ``rule``."""
    return authenticated or rule.anonymous_allowed


def may_publish(rule: ChannelRule, authenticated: bool) -> bool:
    """Tell whether a client may send messages to every member."""
    return _granted(rule.publish, authenticated)


def may_direct(rule: ChannelRule, authenticated: bool) -> bool:
    """Tell whether a client may send a direct message to one member."""
    return _granted(rule.direct, authenticated)


def receives(rule: ChannelRule, authenticated: bool) -> bool:
    """Tell whether a member receives the channel's messages, events and history."""
    return authenticated or rule.receive == "everyone"
