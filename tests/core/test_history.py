"""Mention gating and the pending group history (gateway-behaviour §2.6, §2.7;
zalo-personal §5.6 and §8 #1, #3, #4, #5, #16)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.core.access import AccountPolicy, GroupDecision, GroupRule, decide_group
from zalogate.core.history import (
    CURRENT_MESSAGE_MARKER,
    HISTORY_MARKER,
    HistoryEntry,
    SqliteGroupHistory,
    format_with_history,
    group_history_key,
    mention_gate,
    mention_gate_detail,
)
from zalogate.core.model import MentionFacts
from zalogate.store import Store

GATED = GroupDecision(True, "group_policy_allowed", True, "*")
UNGATED = GroupDecision(True, "group_policy_allowed", False, "g-1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "state") as opened:
        yield opened


def entry(body: str, n: int = 0, sender: str = "Alice") -> HistoryEntry:
    return HistoryEntry(sender=sender, body=body, timestamp_ms=1000 + n, message_id=f"m{n}")


# --------------------------------------------------------------------------- mention gate


def test_unmentioned_group_message_is_skipped() -> None:
    """zalo-personal §8 #1: requireMention, no mention → no dispatch (skip to history)."""
    assert mention_gate(GATED, MentionFacts()) == "skip"


def test_explicit_mention_is_processed_and_flagged() -> None:
    """zalo-personal §8 #4: explicit mention → dispatch with WasMentioned=true."""
    result = mention_gate_detail(GATED, MentionFacts(was_mentioned=True))
    assert (result.action, result.was_mentioned) == ("process", True)


def test_pattern_mention_counts() -> None:
    """gateway §2.6: a configured regex on the normalised text counts as a mention."""
    assert mention_gate(GATED, MentionFacts(), text="hey BOT", patterns=[r"\bbot\b"]) == "process"


def test_quoting_the_bot_counts_as_a_mention_unless_switched_off() -> None:
    """gateway §2.6: zalouser's ``quoted_bot`` implicit mention; ``quotedBot:false`` off."""
    facts = MentionFacts(quoted_bot=True)
    assert mention_gate(GATED, facts) == "process"
    assert mention_gate(GATED, facts, quoted_bot_counts=False) == "skip"


def test_authorised_command_bypasses_mention_gating() -> None:
    """zalo-personal §8 #5: ``/status`` unmentioned, command authorised → dispatched,
    WasMentioned=true."""
    result = mention_gate_detail(GATED, MentionFacts(), is_command=True, command_authorized=True)
    assert (result.action, result.reason, result.was_mentioned) == (
        "process",
        "command_bypass",
        True,
    )


def test_command_bypass_needs_authorisation_and_no_other_mention() -> None:
    """gateway §2.6: bypass only when authorised, text commands on, nobody mentioned."""
    assert mention_gate(GATED, MentionFacts(), is_command=True) == "skip"
    facts = MentionFacts(has_any_mention=True)
    assert mention_gate(GATED, facts, is_command=True, command_authorized=True) == "skip"
    assert (
        mention_gate(
            GATED, MentionFacts(), is_command=True, command_authorized=True, text_commands=False
        )
        == "skip"
    )


def test_fail_closed_when_mentions_cannot_be_detected(caplog: pytest.LogCaptureFixture) -> None:
    """zalo-personal §8 #3 / product-decisions: no detection → dropped with an error log."""
    with caplog.at_level(logging.ERROR):
        result = mention_gate_detail(GATED, MentionFacts(can_detect=False))
    assert (result.action, result.reason) == ("drop", "mention_detection_unavailable")
    assert "detection unavailable" in caplog.text


def test_patterns_make_mentions_detectable() -> None:
    """gateway §2.6: ``canDetectMention`` = at least one regex or native detection."""
    facts = MentionFacts(can_detect=False)
    assert mention_gate(GATED, facts, text="hi", patterns=["bot"]) == "skip"
    assert mention_gate(GATED, facts, text="hi bot", patterns=["bot"]) == "process"


def test_no_mention_required_processes_everything() -> None:
    assert mention_gate(UNGATED, MentionFacts(can_detect=False)) == "process"


def test_refused_group_is_dropped() -> None:
    refused = GroupDecision(False, "route_not_allowlisted", True, None)
    result = mention_gate_detail(refused, MentionFacts(was_mentioned=True))
    assert (result.action, result.reason) == ("drop", "route_not_allowlisted")


def test_open_policy_wildcard_require_mention_fixture() -> None:
    """zalo-personal §8 fixture: ``groups: {"*": {requireMention: true}}``, ``open``."""
    policy = AccountPolicy(
        "zalouser", group_policy="open", groups={"*": GroupRule(require_mention=True)}
    )
    decision = decide_group(policy, "g-1", "123", group_name="Team")
    assert mention_gate(decision, MentionFacts()) == "skip"
    assert mention_gate(decision, MentionFacts(was_mentioned=True)) == "process"


# --------------------------------------------------------------------------- history formatting


def test_history_is_wrapped_in_the_two_markers() -> None:
    """gateway §2.7: exact marker lines, then entries, blank line, current message."""
    body = format_with_history([entry("hi", 1), entry("there", 2, "Bob")], "Carol: @bot ?")
    assert body == (
        "[Chat messages since your last reply - for context]\n"
        "Alice: hi [id:m1]\n"
        "Bob: there [id:m2]\n"
        "\n"
        "[Current message - respond to this]\n"
        "Carol: @bot ?"
    )
    assert HISTORY_MARKER in body
    assert CURRENT_MESSAGE_MARKER in body


def test_without_history_only_the_current_message_is_sent() -> None:
    assert format_with_history([], "just this") == "just this"


def test_custom_entry_formatter_is_used() -> None:
    body = format_with_history([entry("hi")], "now", format_entry=lambda e: f"<{e.body}>")
    assert "\n<hi>\n" in body


def test_history_key_shape() -> None:
    """gateway §2.7: ``<channel>:<accountId>:group:<peerId>``."""
    assert group_history_key("zalouser", "default", "g-1") == "zalouser:default:group:g-1"


# --------------------------------------------------------------------------- persisted history


async def test_skipped_message_is_prepended_to_next_processed_one_then_cleared(
    store: Store,
) -> None:
    """zalo-personal §8 #16: limit 5; skipped line shows up once in the next dispatch, then
    the third dispatch has no history."""
    history = SqliteGroupHistory(store)
    key = group_history_key("zalouser", "default", "g-1")
    await history.append(key, entry("first unmentioned line"), limit=5)
    taken = await history.take(key)
    assert [(e.sender, e.body) for e in taken] == [("Alice", "first unmentioned line")]
    assert "first unmentioned line" in format_with_history(taken, "second")
    assert await history.take(key) == []


async def test_history_keeps_only_the_newest_limit_entries(store: Store) -> None:
    """gateway §2.7: each key holds at most ``limit`` entries (oldest dropped)."""
    history = SqliteGroupHistory(store)
    for n in range(8):
        await history.append("k", entry(f"line {n}", n), limit=3)
    assert [e.body for e in await history.peek("k")] == ["line 5", "line 6", "line 7"]


async def test_limit_zero_keeps_nothing(store: Store) -> None:
    """gateway §2.7: ``0`` disables history."""
    history = SqliteGroupHistory(store)
    await history.append("k", entry("a"), limit=2)
    await history.append("k", entry("b"), limit=0)
    assert await history.peek("k") == []


async def test_history_is_per_group_and_clear_forgets(store: Store) -> None:
    history = SqliteGroupHistory(store)
    await history.append("g1", entry("one"), limit=50)
    await history.append("g2", entry("two"), limit=50)
    await history.clear("g1")
    assert await history.peek("g1") == []
    assert [e.body for e in await history.peek("g2")] == ["two"]


async def test_history_survives_a_restart(tmp_path: Path) -> None:
    """product-decisions: the pending history is persisted."""
    state = tmp_path / "state"
    media_entry = HistoryEntry("Bob", "pic", 5, None, "7", media=("a.png",) * 6)
    async with await Store.open(state) as store:
        await SqliteGroupHistory(store).append("k", media_entry, limit=50)
    async with await Store.open(state) as store:
        [restored] = await SqliteGroupHistory(store).take("k")
    assert restored.sender_id == "7"
    assert restored.media == ("a.png",) * 4


async def test_least_recently_used_keys_are_evicted_beyond_max_keys(store: Store) -> None:
    """gateway §2.7: the history holds a bounded number of keys (LRU eviction)."""
    history = SqliteGroupHistory(store, max_keys=2)
    await history.append("a", entry("a1"), limit=5)
    await history.append("b", entry("b1"), limit=5)
    await history.append("a", entry("a2"), limit=5)
    await history.append("c", entry("c1"), limit=5)
    assert [e.body for e in await history.peek("a")] == ["a1", "a2"]
    assert await history.peek("b") == []
    assert [e.body for e in await history.peek("c")] == ["c1"]
