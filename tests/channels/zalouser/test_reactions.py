"""Reaction aliases (P29) and the message id pair helpers (P30)."""

from __future__ import annotations

import pytest

from zalogate.channels.zalouser.reactions import (
    MessageIds,
    format_message_sid,
    parse_message_sid,
    resolve_message_ids,
    resolve_reaction,
)


@pytest.mark.parametrize(
    ("given", "icon"),
    [
        ("like", "/-strong"),
        ("👍", "/-strong"),
        (":+1:", "/-strong"),
        ("heart", "/-heart"),
        ("❤️", "/-heart"),
        ("<3", "/-heart"),
        ("haha", ":>"),
        ("😂", ":>"),
        ("wow", ":o"),
        ("cry", ":-(("),
        ("angry", ":-h"),
        ("", "/-strong"),
        ("  ", "/-strong"),
        ("/custom", "/custom"),
        ("LIKE", "/-strong"),
    ],
)
def test_reaction_aliases(given: str, icon: str) -> None:
    assert resolve_reaction(given) == icon


def test_message_sid_parse_and_format() -> None:
    assert parse_message_sid("111:222") == MessageIds("111", "222")
    assert parse_message_sid("111") is None
    assert parse_message_sid(":2") is None
    assert format_message_sid(MessageIds("1", "2")) == "1:2"


def test_resolve_message_ids_prefers_explicit_then_context_then_single() -> None:
    assert resolve_message_ids("m-1", "c-1", "m-2:c-2") == MessageIds("m-1", "c-1")
    assert resolve_message_ids(None, None, "m-2:c-2") == MessageIds("m-2", "c-2")
    assert resolve_message_ids("solo") == MessageIds("solo", "solo")
    assert resolve_message_ids("111:222") == MessageIds("111", "222")
    assert resolve_message_ids(None, None, None) is None
