"""The console's allowlist overlay: merged over the config's lists, durable, and announced to
the caches that hold policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from zalogate.core.access import decide_dm, decide_group, policy_from_settings
from zalogate.core.access_overlay import (
    EMPTY_OVERLAY,
    AccessOverlay,
    AccessOverlays,
    OverlayEntry,
    SqliteAccessOverlayStore,
    apply_overlay,
    normalize_overlay_entry,
)
from zalogate.store import Store

SETTINGS = {
    "dmPolicy": "allowlist",
    "allowFrom": ["zalo:111", "222"],
    "groupPolicy": "allowlist",
    "groups": {"g1": {"requireMention": False}, "g2": {}},
}


async def test_edits_are_merged_kept_and_announced(tmp_path: Path) -> None:
    changed: list[tuple[str, str]] = []
    async with await Store.open(tmp_path) as store:
        overlays = AccessOverlays(SqliteAccessOverlayStore(store))
        await overlays.load()
        overlays.subscribe(lambda channel, account: changed.append((channel, account)))
        assert await overlays.allow("zalo", "Default", "allowFrom", " ZL:333 ") == "333"
        await overlays.block("zalo", "default", "allowFrom", "111")
        await overlays.allow("zalo", "default", "groups", "g3")
        await overlays.block("zalo", "default", "groups", "G1")
        await overlays.allow("zalo", "default", "groupAllowFrom", "444")
        assert changed == [("zalo", "default")] * 5

        policy = apply_overlay(
            policy_from_settings("zalo", SETTINGS), overlays.get("zalo", "default")
        )
        assert policy.allow_from == {"222", "333"}
        assert decide_dm(policy, "333").allowed
        assert not decide_dm(policy, "111").allowed  # removed from the config's list here
        assert set(policy.groups) == {"g2", "g3"}
        assert decide_group(policy, "g3", "444").allowed
        assert decide_group(policy, "g1", "444").reason == "route_not_allowlisted"
        assert not decide_group(policy, "g3", "222").allowed  # groupAllowFrom now set: 444 only

        # "Restore" forgets the edit: the config's entry counts again; another account is
        # untouched.
        assert await overlays.forget("zalo", "default", "allowFrom", "111")
        assert not await overlays.forget("zalo", "default", "allowFrom", "111")
        assert overlays.get("zalo", "work").entries == ()

    # Durable: a new gateway reads the same edits.
    async with await Store.open(tmp_path) as store:
        again = AccessOverlays(SqliteAccessOverlayStore(store))
        await again.load()
        overlay = again.get("zalo", "DEFAULT")
        assert overlay.added("allowFrom") == {"333"}
        assert overlay.blocked("allowFrom") == frozenset()
        assert overlay.blocked("groups") == {"g1"}


def test_an_empty_overlay_returns_the_same_policy() -> None:
    policy = policy_from_settings("zalo", SETTINGS)
    assert apply_overlay(policy, EMPTY_OVERLAY) is policy


def test_group_allow_from_stays_unset_unless_something_is_added() -> None:
    policy = policy_from_settings("zalo", {"allowFrom": ["1"]})
    blocked_only = AccessOverlay((OverlayEntry("groupAllowFrom", "9", blocked=True),))
    assert apply_overlay(policy, blocked_only).group_allow_from is None


@pytest.mark.parametrize(
    ("raw", "problem"), [("  ", "give an id"), ("*", "config file"), ("zalo:", "give an id")]
)
def test_unusable_entries_are_refused_with_the_fix(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalize_overlay_entry("zalo", "allowFrom", raw)
    with pytest.raises(ValueError, match="use one of"):
        normalize_overlay_entry("zalo", "blockFrom", "1")  # type: ignore[arg-type]
