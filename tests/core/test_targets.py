"""Outbound target grammar of both channels (zalo-bot-api §8, zalo-personal §5.7 and §8 #28)."""

from __future__ import annotations

import pytest

from zalogate.core.targets import (
    Target,
    TargetError,
    looks_like_id,
    normalize_target,
    parse_target,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zlu:g:30003", "group:30003"),
        ("zalouser:u:20002", "user:20002"),
        ("zlu:g-30003", "group:g-30003"),
        ("20002", "20002"),
    ],
)
def test_zalouser_targets_normalise_to_canonical_form(raw: str, expected: str) -> None:
    """zalo-personal §8 scenario 28: normalize examples."""
    assert normalize_target(raw, "zalouser") == expected


def test_zalouser_group_prefix_marks_a_group_with_the_stripped_id() -> None:
    """zalo-personal §8 scenario 28: ``group:<id>`` is a group, id without prefix."""
    target = parse_target("group:1471383327500481391", "zalouser")
    assert target == Target("zalouser", "group", "1471383327500481391")
    assert target.is_group


def test_zalouser_bare_id_is_a_direct_message() -> None:
    """zalo-personal §8 scenario 28: a bare id goes to a user (groups need a marker)."""
    target = parse_target("987654321", "zalouser")
    assert target.kind == "user"
    assert target.id == "987654321"


def test_zalouser_bare_g_dash_id_is_a_group_keeping_the_raw_id() -> None:
    """zalo-personal §8 scenario 28: ``g-…`` is a group, raw id kept."""
    target = parse_target("g-1471383327500481391", "zalouser")
    assert target.kind == "group"
    assert target.id == "g-1471383327500481391"


@pytest.mark.parametrize("raw", ["user:5", "dm:5", "u:5", "ZALOUSER:user:5", "Zlu:DM:5"])
def test_zalouser_user_markers_and_case_insensitive_prefixes(raw: str) -> None:
    """zalo-personal §5.7: ``user:``/``dm:``/``u:`` mark users; prefixes ignore case."""
    target = parse_target(raw, "zalouser")
    assert (target.kind, target.id, target.canonical) == ("user", "5", "user:5")


def test_zalouser_bare_u_dash_id_is_a_user() -> None:
    target = parse_target("u-42", "zalouser")
    assert (target.kind, target.id) == ("user", "u-42")


@pytest.mark.parametrize(
    ("raw", "kind", "chat_id"),
    [
        ("123456789", "user", "123456789"),
        ("zalo:123", "user", "123"),
        ("ZL:123", "user", "123"),
        ("zalo:user:123", "user", "123"),
        ("zalo:dm:123", "user", "123"),
        ("channel:abc", "user", "abc"),
        ("conversation:abc", "user", "abc"),
        ("room:abc", "user", "abc"),
        ("zalo:group:777", "group", "777"),
        ("Group:777", "group", "777"),
    ],
)
def test_zalo_bot_targets(raw: str, kind: str, chat_id: str) -> None:
    """zalo-bot-api §8: plain id, ``zalo:``/``zl:``, kind prefixes; only ``group:`` is a group;
    zalo-bot-api §10 scenario 38: ``zalo:user:123`` → chat id ``123``."""
    target = parse_target(raw, "zalo")
    assert (target.kind, target.id) == (kind, chat_id)


def test_zalo_does_not_treat_g_dash_ids_as_groups() -> None:
    """Bot API chat ids are opaque; the ``g-`` shorthand belongs to zalouser only."""
    assert parse_target("g-abc", "zalo").kind == "user"


@pytest.mark.parametrize("raw", ["", "   ", "zalo:", "zl:user:", "zalo:group:  "])
def test_empty_zalo_target_is_an_error(raw: str) -> None:
    with pytest.raises(TargetError, match="No chat_id provided"):
        parse_target(raw, "zalo")


def test_provider_prefix_must_match_the_selected_channel() -> None:
    """gateway-behaviour §4.4: provider prefixes must match the selected channel."""
    with pytest.raises(TargetError, match="does not match"):
        parse_target("zalouser:123", "zalo")
    with pytest.raises(TargetError, match="does not match"):
        parse_target("zl:123", "zalouser")


def test_prefix_names_the_channel_when_none_is_selected() -> None:
    assert parse_target("zlu:g:1").channel == "zalouser"
    assert parse_target("zl:1").channel == "zalo"
    assert parse_target("1").channel is None


def test_address_is_the_envelope_form() -> None:
    """gateway-behaviour §4.1: ``zalouser:group:<id>`` and ``zalouser:<id>``."""
    assert parse_target("g:9", "zalouser").address() == "zalouser:group:9"
    assert parse_target("9", "zalouser").address() == "zalouser:9"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice Nguyen", False),
        ("alice", False),
        ("12345", True),
        ("g-abc", True),
        ("u-abc", True),
        ("group:abc", True),
        ("zlu:user:xyz", True),
        ("", False),
    ],
)
def test_zalouser_looks_like_id(raw: str, expected: bool) -> None:
    """zalo-personal §5.7 and §8 scenario 28: ``looksLikeId("Alice Nguyen")`` is false."""
    assert looks_like_id(raw, "zalouser") is expected


def test_zalo_looks_like_id_accepts_any_non_empty_value() -> None:
    """zalo-bot-api §8: the current ``looksLikeId`` accepts any non-empty value."""
    assert looks_like_id("zalo:123", "zalo")
    assert looks_like_id("abcdef", "zalo")
    assert not looks_like_id("zalo:", "zalo")
