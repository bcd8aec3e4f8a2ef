"""Channel rules: which rule applies to a channel and what it grants."""

from __future__ import annotations

import pytest

from webapp.realtime.channels import is_valid_channel
from webapp.realtime.rules import (
    ChannelRule,
    WorkspaceSnapshot,
    find_rule,
    may_direct,
    may_join,
    may_publish,
    receives,
)


def snapshot(*rules: ChannelRule) -> WorkspaceSnapshot:
    return WorkspaceSnapshot(1, True, "hash", rules=rules)


def test_exact_rule_wins_over_a_prefix():
    exact = ChannelRule("room:42")
    prefix = ChannelRule("room:*", nested=True)
    assert find_rule(snapshot(prefix, exact), "room:42") is exact
    assert find_rule(snapshot(prefix, exact), "room:43") is prefix


def test_longest_prefix_wins():
    short = ChannelRule("room:*", nested=True)
    long = ChannelRule("room:vip:*", nested=True)
    assert find_rule(snapshot(short, long), "room:vip:1") is long
    assert find_rule(snapshot(short, long), "room:1") is short


def test_prefix_rule_without_nested_matches_only_its_exact_name():
    rule = ChannelRule("room:*", nested=False)
    assert find_rule(snapshot(rule), "room:1") is None
    assert find_rule(snapshot(rule), "room:*") is rule


def test_no_rule_matches_an_unknown_channel():
    assert find_rule(snapshot(ChannelRule("chat")), "chatter") is None


def test_star_prefix_matches_every_channel():
    rule = ChannelRule("*", nested=True)
    assert find_rule(snapshot(rule), "anything:at/all") is rule


@pytest.mark.parametrize(
    ("mode", "anonymous", "authenticated"),
    [("off", False, False), ("any", True, True), ("authenticated", False, True)],
)
def test_publish_and_direct_modes(mode, anonymous, authenticated):
    rule = ChannelRule("chat", publish=mode, direct=mode)
    assert may_publish(rule, False) is anonymous
    assert may_publish(rule, True) is authenticated
    assert may_direct(rule, False) is anonymous
    assert may_direct(rule, True) is authenticated


def test_anonymous_clients_need_the_rule_to_allow_them():
    assert may_join(ChannelRule("chat", anonymous_allowed=True), False)
    assert not may_join(ChannelRule("chat", anonymous_allowed=False), False)
    assert may_join(ChannelRule("chat", anonymous_allowed=False), True)


def test_receive_modes():
    everyone = ChannelRule("chat", receive="everyone")
    authenticated = ChannelRule("chat", receive="authenticated")
    assert receives(everyone, False) and receives(everyone, True)
    assert not receives(authenticated, False) and receives(authenticated, True)


@pytest.mark.parametrize(
    "fields",
    [
        {"publish": "maybe"},
        {"direct": "all"},
        {"receive": "nobody"},
        {"history_size": -1},
    ],
)
def test_rule_refuses_unknown_values(fields):
    with pytest.raises(ValueError):
        ChannelRule("chat", **fields)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("marvel-chat-room", True),
        ("room:42", True),
        ("a/b.c_d@e", True),
        ("room:*", False),
        ("", False),
        ("x" * 256, False),
        ("with space", False),
        ("ünïcode", False),
        (42, False),
    ],
)
def test_channel_names(name, valid):
    assert is_valid_channel(name) is valid
