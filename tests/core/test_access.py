"""DM policy, group policy, group routes and command authorisation.

Scenarios: gateway-behaviour §1.7, §2.1-§2.5, §2.8; zalo-bot-api §6 and §10 #25-#30;
zalo-personal §5.2, §5.5 and §8 #2, #7-#12, #31.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from zalogate.core.access import (
    AccountPolicy,
    GroupPolicy,
    GroupRule,
    authorize_command,
    command_body,
    decide_dm,
    decide_group,
    effective_group_policy,
    group_rule_candidates,
    group_slug,
    is_control_command,
    mentioned_by_pattern,
    normalize_allow_entry,
    normalize_allow_list,
    policy_from_settings,
)


def policy(
    channel: str = "zalouser",
    *,
    dm: str = "pairing",
    allow: Iterable[str | int] = (),
    group_policy: GroupPolicy | None = None,
    group_allow: Iterable[str | int] | None = None,
    groups: Mapping[str, GroupRule] | None = None,
    **extra: object,
) -> AccountPolicy:
    return AccountPolicy(
        channel=channel,
        dm_policy=dm,  # type: ignore[arg-type]
        allow_from=normalize_allow_list(channel, allow),
        group_policy=group_policy,
        group_allow_from=None
        if group_allow is None
        else normalize_allow_list(channel, group_allow),
        groups=dict(groups or {}),
        **extra,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("channel", "raw", "expected"),
    [
        ("zalo", "zalo:12345", "12345"),
        ("zalo", "ZL:999", "999"),
        ("zalo", " Zalo: ABC ", "abc"),
        ("zalo", 12345, "12345"),
        ("zalouser", "zalouser:777", "777"),
        ("zalouser", "ZLU:777", "777"),
        ("zalouser", "*", "*"),
        ("zalouser", " * ", "*"),
        ("zalo", "zalouser:1", "zalouser:1"),
    ],
)
def test_allow_entries_are_trimmed_prefix_stripped_and_case_folded(
    channel: str, raw: str | int, expected: str
) -> None:
    """gateway-behaviour §2.2, zalo-bot-api §6.1: prefixes stripped case-insensitively."""
    assert normalize_allow_entry(channel, raw) == expected


def test_zalo_allowlist_prefixes_admit_the_bare_id() -> None:
    """zalo-bot-api §6.1: ``["zalo:12345","zl:999"]`` allows 12345; ``["999","zalo:abc"]``
    rejects it."""
    admits = policy("zalo", dm="allowlist", allow=["zalo:12345", "zl:999"])
    rejects = policy("zalo", dm="allowlist", allow=["999", "zalo:abc"])
    assert decide_dm(admits, "12345").allowed
    assert not decide_dm(rejects, "12345").allowed


def test_empty_entries_are_dropped() -> None:
    assert normalize_allow_list("zalo", ["", "  ", "zl:"]) == frozenset()


# --------------------------------------------------------------------------- DMs


def test_pairing_policy_challenges_unknown_sender() -> None:
    """zalo-bot-api §10 #25 / gateway §2.1: unknown sender under pairing → challenge."""
    decision = decide_dm(policy(dm="pairing"), "42")
    assert (decision.allowed, decision.reason, decision.action) == (
        False,
        "dm_policy_pairing_required",
        "challenge",
    )


def test_pairing_policy_admits_config_and_store_entries() -> None:
    """gateway §2.1: pairing admits ``allowFrom`` or the pairing allow store."""
    p = policy(dm="pairing", allow=["zalouser:1"])
    assert decide_dm(p, "1").action == "process"
    stored = decide_dm(p, "2", store_allowed=frozenset({"2"}))
    assert (stored.allowed, stored.reason) == (True, "dm_policy_allowlisted")


@pytest.mark.parametrize("mode", ["allowlist", "open", "disabled"])
def test_store_approvals_count_only_under_pairing(mode: str) -> None:
    """product-decisions: pairing-store approvals count only under ``pairing``."""
    decision = decide_dm(policy(dm=mode, allow=["1"]), "2", store_allowed=frozenset({"2"}))
    assert not decision.allowed


def test_allowlist_admits_listed_sender_and_silently_drops_others() -> None:
    """zalo-bot-api §10 #27: ``["zalo:12345"]`` → 12345 dispatched, 999 dropped, no reply."""
    p = policy("zalo", dm="allowlist", allow=["zalo:12345"])
    assert decide_dm(p, "12345").reason == "dm_policy_allowlisted"
    dropped = decide_dm(p, "999")
    assert (dropped.allowed, dropped.reason, dropped.action) == (
        False,
        "dm_policy_not_allowlisted",
        "drop",
    )


def test_disabled_drops_every_dm() -> None:
    """zalo-bot-api §10 #28: disabled → no reply and no dispatch."""
    decision = decide_dm(policy(dm="disabled", allow=["*"]), "1")
    assert (decision.allowed, decision.reason, decision.action) == (
        False,
        "dm_policy_disabled",
        "drop",
    )


def test_open_with_wildcard_admits_everyone() -> None:
    """gateway §2.1: ``open`` is public only with ``"*"``."""
    decision = decide_dm(policy(dm="open", allow=["*"]), "anyone")
    assert (decision.allowed, decision.reason) == (True, "dm_policy_open")


def test_open_without_wildcard_admits_only_listed_entries() -> None:
    """gateway §2.1: ``open`` with concrete entries only admits those entries."""
    p = policy(dm="open", allow=["1"])
    assert decide_dm(p, "1").allowed
    assert decide_dm(p, "2").action == "drop"


def test_sender_comparison_ignores_case() -> None:
    """gateway §2.2: zalouser sender comparison is lower-cased."""
    assert decide_dm(policy(dm="allowlist", allow=["AbC"]), "aBc").allowed


def test_display_names_match_only_with_dangerous_flag() -> None:
    """gateway §2.2 / PR #24907: ids only by default; names with the dangerous opt-in."""
    safe = policy(dm="allowlist", allow=["Alice"])
    risky = policy(dm="allowlist", allow=["Alice"], dangerously_allow_name_matching=True)
    assert not decide_dm(safe, "1", sender_name="alice").allowed
    assert decide_dm(risky, "1", sender_name="alice").allowed


def test_large_allowlist_is_a_set_lookup() -> None:
    """Allowlists are frozensets: membership does not scan the list."""
    p = policy(dm="allowlist", allow=[str(i) for i in range(100_000)])
    assert isinstance(p.allow_from, frozenset)
    assert decide_dm(p, "99999").allowed
    assert not decide_dm(p, "100000").allowed


# --------------------------------------------------------------------------- groups


def test_group_policy_defaults_to_channel_defaults_then_open() -> None:
    """product-decisions: unset → ``channels.defaults.groupPolicy`` → ``open``."""
    assert effective_group_policy(policy()) == "open"
    assert effective_group_policy(AccountPolicy("zalo", defaults_group_policy="disabled")) == (
        "disabled"
    )
    assert (
        effective_group_policy(
            AccountPolicy("zalo", group_policy="allowlist", defaults_group_policy="disabled")
        )
        == "allowlist"
    )


def test_disabled_group_policy_drops_every_group_message() -> None:
    """zalo-bot-api §10 #30: ``disabled`` drops all."""
    decision = decide_group(policy("zalo", group_policy="disabled", allow=["*"]), "g", "1")
    assert (decision.allowed, decision.reason) == (False, "group_policy_disabled")


def test_open_group_policy_admits_any_member() -> None:
    """zalo-bot-api §10 #30: with ``open`` any member passes (sender lists not consulted)."""
    p = policy("zalo", group_policy="open", allow=["1"], group_allow=["zl:12345"])
    decision = decide_group(p, "g", "2")
    assert (decision.allowed, decision.reason) == (True, "group_policy_allowed")


def test_zalo_group_allowlist_by_sender() -> None:
    """zalo-bot-api §10 #30: ``groupAllowFrom: ["zl:12345"]`` admits 12345, drops others."""
    p = policy("zalo", group_policy="allowlist", group_allow=["zl:12345"])
    assert decide_group(p, "chat", "12345").allowed
    dropped = decide_group(p, "chat", "6")
    assert (dropped.allowed, dropped.reason) == (False, "group_policy_not_allowlisted")


def test_empty_group_allowlist_blocks_everything() -> None:
    """gateway §2.3 / zalo-personal §8 #2: allowlist with nothing configured blocks."""
    decision = decide_group(policy(group_policy="allowlist"), "g-1", "123")
    assert (decision.allowed, decision.reason) == (False, "group_policy_empty_allowlist")


def test_group_allow_from_falls_back_to_allow_from() -> None:
    """product-decisions / zalo-bot-api §6.2: unset or empty ``groupAllowFrom`` → ``allowFrom``."""
    fallbacks: tuple[list[str] | None, ...] = (None, [])
    for group_allow in fallbacks:
        p = policy("zalo", group_policy="allowlist", allow=["5"], group_allow=group_allow)
        assert decide_group(p, "chat", "5").allowed
        assert not decide_group(p, "chat", "6").allowed


def test_group_allow_from_wildcard_admits_every_member() -> None:
    """product-decisions: ``groupAllowFrom: ["*"]`` admits every member."""
    p = policy(
        group_policy="allowlist",
        allow=["1"],
        group_allow=["*"],
        groups={"g-1": GroupRule()},
    )
    assert decide_group(p, "g-1", "anyone").allowed


def test_allowlisted_group_blocks_sender_outside_fallback_allow_from() -> None:
    """zalo-personal §8 #9 in the ``zalo`` channel, which keeps the fallback: allowlist,
    ``allowFrom: ["123"]``, ``groups: {"group:g-1": {allow: true}}``, sender 456 → blocked."""
    p = policy(
        "zalo",
        group_policy="allowlist",
        allow=["123"],
        groups={"group:g-1": GroupRule.from_config(allow=True)},
    )
    decision = decide_group(p, "g-1", "456")
    assert (decision.allowed, decision.reason, decision.rule_key) == (
        False,
        "group_policy_not_allowlisted",
        "group:g-1",
    )
    assert decide_group(p, "g-1", "123").allowed


def test_zalouser_group_allow_from_never_falls_back_to_allow_from() -> None:
    """product-decisions (OpenClaw PR 46663): in zalouser an unset ``groupAllowFrom`` is no
    sender filter; an allowlisted group admits a member outside the DM ``allowFrom``."""
    for group_allow in (None, []):
        p = policy(
            group_policy="allowlist",
            allow=["123"],
            group_allow=group_allow,
            groups={"group:g-1": GroupRule.from_config(allow=True)},
        )
        assert decide_group(p, "g-1", "456").allowed
        assert not decide_group(p, "g-other", "123").allowed
    only_dm_list = policy(group_policy="allowlist", allow=["123"])
    assert decide_group(only_dm_list, "g-1", "123").reason == "group_policy_empty_allowlist"


def test_sender_not_in_group_allow_from_is_blocked() -> None:
    """zalo-personal §8 #10: allowlist, ``groupAllowFrom: ["999"]``, sender 123 → blocked."""
    p = policy(group_policy="allowlist", group_allow=["999"], groups={"*": GroupRule()})
    assert not decide_group(p, "g-1", "123").allowed
    assert decide_group(p, "g-1", "999").allowed


def test_allowlisted_group_with_no_sender_list_admits_every_member() -> None:
    """gateway §2.4: an allowlisted group with no sender list is open to every member."""
    p = policy(group_policy="allowlist", groups={"g-1": GroupRule()})
    assert decide_group(p, "g-1", "anyone").allowed


def test_group_not_in_groups_is_not_allowlisted() -> None:
    """gateway §2.5: ``allowlist`` without a match → ``route_not_allowlisted``."""
    p = policy(group_policy="allowlist", groups={"g-1": GroupRule()})
    decision = decide_group(p, "g-2", "1")
    assert (decision.allowed, decision.reason, decision.rule_key) == (
        False,
        "route_not_allowlisted",
        None,
    )


@pytest.mark.parametrize("mode", ["open", "allowlist"])
def test_disabled_group_entry_drops_even_under_open(mode: GroupPolicy) -> None:
    """gateway §2.5 / zalo-personal §8 #31: ``enabled:false`` or legacy ``allow:false`` drop."""
    for rule in (GroupRule.from_config(enabled=False), GroupRule.from_config(allow=False)):
        p = policy(group_policy=mode, groups={"g-1": rule, "*": GroupRule()})
        decision = decide_group(p, "g-1", "1")
        assert (decision.allowed, decision.reason) == (False, "route_disabled")


def test_legacy_allow_is_an_alias_of_enabled() -> None:
    """zalo-personal §5.2: ``allow`` is the legacy name of ``enabled``; either false drops."""
    assert GroupRule.from_config(allow=True) == GroupRule(enabled=True)
    assert GroupRule.from_config(enabled=True, allow=False).enabled is False
    assert GroupRule.from_config().enabled is None


def test_group_key_precedence_id_then_alias_then_wildcard() -> None:
    """gateway §2.5: the first existing candidate wins: id → ``group:<id>`` → ``*``."""
    rules = {
        "g-1": GroupRule(require_mention=False),
        "group:g-1": GroupRule(require_mention=True),
        "group:g-2": GroupRule(require_mention=False),
        "*": GroupRule(require_mention=True),
    }
    p = policy(groups=rules)
    assert decide_group(p, "g-1", "1").rule_key == "g-1"
    assert decide_group(p, "g-2", "1").rule_key == "group:g-2"
    assert decide_group(p, "g-3", "1").rule_key == "*"


def test_require_mention_defaults_true_and_does_not_fall_through_to_wildcard() -> None:
    """gateway §2.5: a specific entry without ``requireMention`` shadows ``"*"`` → true."""
    p = policy(groups={"g-1": GroupRule(enabled=True), "*": GroupRule(require_mention=False)})
    assert decide_group(p, "g-1", "1").require_mention is True
    assert decide_group(p, "g-2", "1").require_mention is False
    assert decide_group(policy(), "g-9", "1").require_mention is True


def test_zalo_bot_groups_are_always_mention_gated() -> None:
    """gateway §2.5: zalo (bot) groups are always mention-gated (not configurable)."""
    p = policy("zalo", groups={"*": GroupRule(require_mention=False)})
    assert decide_group(p, "chat", "1").require_mention is True


def test_spoofed_group_name_does_not_match_by_default() -> None:
    """zalo-personal §8 #11: a group named "Trusted Team" with another id is not admitted."""
    p = policy(
        group_policy="allowlist",
        group_allow=["*"],
        groups={"Trusted Team": GroupRule(), "group:g-trusted-001": GroupRule()},
    )
    decision = decide_group(p, "g-attacker-001", "1", group_name="Trusted Team")
    assert not decision.allowed
    assert decide_group(p, "g-trusted-001", "1").allowed


def test_group_name_matches_only_with_dangerous_flag() -> None:
    """zalo-personal §8 #12: with ``dangerouslyAllowNameMatching`` the name entry matches."""
    p = policy(
        group_policy="allowlist",
        group_allow=["*"],
        groups={"Trusted Team": GroupRule(require_mention=False)},
        dangerously_allow_name_matching=True,
    )
    decision = decide_group(p, "g-attacker-001", "1", group_name="trusted team")
    assert (decision.allowed, decision.rule_key, decision.require_mention) == (
        True,
        "Trusted Team",
        False,
    )
    slug = policy(
        group_policy="allowlist",
        groups={"team-alpha": GroupRule()},
        dangerously_allow_name_matching=True,
    )
    assert decide_group(slug, "9", "1", group_name="#Team Alpha").rule_key == "team-alpha"


def test_startup_resolved_group_name_matches_by_id() -> None:
    """product-decisions: names are resolved to ids at startup; at run time ids match."""
    p = policy(
        group_policy="allowlist",
        groups={"Trusted Team": GroupRule(require_mention=False)},
        group_name_ids={"trusted team": "g-trusted-001"},
    )
    decision = decide_group(p, "g-trusted-001", "1", group_name="Renamed")
    assert (decision.allowed, decision.rule_key) == (True, "Trusted Team")
    assert not decide_group(p, "g-attacker-001", "1", group_name="Trusted Team").allowed


def test_group_candidates_order() -> None:
    """zalo-personal §8 #31: candidate keys with and without name matching."""
    assert group_rule_candidates(
        "123", group_name="Team Alpha", group_channel="chan-1", allow_name_matching=True
    ) == ["123", "group:123", "chan-1", "Team Alpha", "team-alpha", "*"]
    assert group_rule_candidates("123", group_name="Team Alpha") == ["123", "group:123", "*"]
    assert group_slug("#Team  Alpha!") == "team-alpha"


def test_pairing_approval_does_not_grant_group_access() -> None:
    """gateway §1.7: pairing approvals are DM-only; groups use their own allowlists."""
    p = policy(group_policy="allowlist", group_allow=["1"], groups={"*": GroupRule()})
    assert decide_dm(p, "2", store_allowed=frozenset({"2"})).allowed
    assert not decide_group(p, "g", "2").allowed
    assert not authorize_command(p, True, "2", store_allowed=frozenset({"2"}))


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/new", True),
        ("  /status now", True),
        ("/reset\n", True),
        ("hello /new", False),
        ("/", False),
        ("// comment", False),
        ("/ new", False),
        ("", False),
    ],
)
def test_control_commands_are_standalone_slash_words(text: str, expected: bool) -> None:
    """gateway §2.8: text commands are standalone messages starting with ``/``."""
    assert is_control_command(text) is expected


def test_command_auth_with_only_allow_from() -> None:
    """zalo-personal §8 #7: ``allowFrom: ["123"]`` → both authorizers configured and allowed."""
    assert authorize_command(policy(allow=["123"]), True, "123")


def test_command_auth_via_group_allow_from() -> None:
    """zalo-personal §8 #8: ``allowFrom: ["999"]``, ``groupAllowFrom: ["123"]`` → allowed."""
    p = policy(allow=["999"], group_allow=["123"])
    assert authorize_command(p, True, "123")
    assert not authorize_command(p, True, "555")


def test_group_commands_are_refused_when_nothing_is_configured() -> None:
    """product-decisions / gateway §2.8: no configured allowlist → refused (fail closed)."""
    assert not authorize_command(policy(), True, "1")


def test_group_commands_never_use_pairing_store() -> None:
    """gateway §2.8: in groups only configured lists authorise commands."""
    assert not authorize_command(policy(), True, "1", store_allowed=frozenset({"1"}))
    assert authorize_command(policy(), False, "1", store_allowed=frozenset({"1"}))


def test_command_allow_from_is_the_only_source_when_set() -> None:
    """gateway §2.8: ``commands.allowFrom`` when set is the only source."""
    p = policy(allow=["1"], command_allow_from=frozenset({"2"}))
    assert not authorize_command(p, True, "1")
    assert authorize_command(p, True, "2")


def test_wildcard_allow_from_authorises_commands() -> None:
    assert authorize_command(policy(dm="open", allow=["*"]), False, "anyone")


# --------------------------------------------------------------------------- mention patterns


def test_mention_patterns_are_case_insensitive_on_normalised_text() -> None:
    """gateway §2.6: zero-width and bidi marks removed, lower-cased, case-insensitive."""
    assert mentioned_by_pattern("Hey B\u200bOT, help", [r"\bbot\b"])
    assert mentioned_by_pattern("hey \u202eBot", [r"\bBOT\b"])
    assert not mentioned_by_pattern("robotics", [r"\bbot\b"])
    assert not mentioned_by_pattern("bot", [])


def test_invalid_and_unsafe_patterns_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """gateway §2.6: invalid or nested-repetition patterns are ignored with a warning."""
    assert not mentioned_by_pattern("aaaa bot", ["(", "(a+)+$"])
    assert mentioned_by_pattern("aaaa bot", ["(", "(a+)+$", "bot"])
    assert "ignoring" in caplog.text


# --------------------------------------------------------------------------- from settings


def test_policy_from_openclaw_style_settings() -> None:
    """zalo-personal §5.2: OpenClaw keys map onto the policy (``allow`` → ``enabled``)."""
    settings = {
        "dmPolicy": "allowlist",
        "allowFrom": ["zlu:123", 456],
        "groupPolicy": "allowlist",
        "groupAllowFrom": ["*"],
        "groups": {
            "group:g-1": {"allow": False},
            "*": {"requireMention": False, "tools": {"allow": ["send"]}},
        },
        "dangerouslyAllowNameMatching": True,
        "historyLimit": 5,
        "messagePrefix": "[acct]",
        "streaming": {"chunkMode": "newline"},
    }
    p = policy_from_settings("zalouser", settings, mention_patterns=["bot"])
    assert p.dm_policy == "allowlist"
    assert p.allow_from == frozenset({"123", "456"})
    assert p.group_allow_from == frozenset({"*"})
    assert p.groups["group:g-1"].enabled is False
    assert p.groups["*"] == GroupRule(require_mention=False, tools_allow=("send",))
    assert p.dangerously_allow_name_matching
    assert (p.history_limit, p.message_prefix, p.chunk_mode) == (5, "[acct]", "newline")
    assert p.mention_patterns == ("bot",)
    assert decide_group(p, "g-1", "1").reason == "route_disabled"


def test_policy_from_empty_settings_uses_defaults() -> None:
    """product-decisions: dmPolicy ``pairing``; groupPolicy → defaults → ``open``; limit 50."""
    p = policy_from_settings("zalo", {}, defaults_group_policy="allowlist")
    assert p.dm_policy == "pairing"
    assert effective_group_policy(p) == "allowlist"
    assert p.group_allow_from is None
    assert (p.history_limit, p.text_chunk_limit, p.chunk_mode) == (50, 2000, "length")


def test_policy_from_model_attributes() -> None:
    class Settings:
        dm_policy = "open"
        allow_from = ("*",)
        history_limit = -3

    p = policy_from_settings("zalo", Settings())
    assert decide_dm(p, "x").reason == "dm_policy_open"
    assert p.history_limit == 0


def test_policy_from_settings_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="dmPolicy"):
        policy_from_settings("zalo", {"dmPolicy": "maybe"})
    with pytest.raises(ValueError, match="chunkMode"):
        policy_from_settings("zalo", {"chunkMode": "words"})


def test_command_body_strips_a_leading_mention_only_when_there_is_one() -> None:
    """zalo-personal §5.6 / §8 #6: ``@Bot /new`` → ``/new``; the channel's text wins."""
    assert command_body("@Bot /new", has_mention=True) == "/new"
    assert command_body("@Bot !help me", has_mention=True) == "!help me"
    assert command_body("@Bot /new", has_mention=False) == "@Bot /new"
    assert command_body("@Bot hello /x", has_mention=True) == "@Bot hello /x"
    assert command_body("@Bot Name /new", command_text="  /new  ") == "/new"
    assert is_control_command(command_body("@Bot /new", has_mention=True))
