"""Key-path formatting and the file order of problems."""

from __future__ import annotations

import pytest

from zalogate.config import ConfigError, parse_config
from zalogate.config.problems import format_path, in_file_order, problem


def test_format_path() -> None:
    assert format_path(("channels", "zalo", "allowFrom", 0)) == "channels.zalo.allowFrom[0]"
    assert format_path(()) == "<root>"


def test_problems_sort_by_where_their_key_is_written() -> None:
    data = {"b": {"x": 1, "y": [1, 2]}, "a": 1}
    found = [
        problem(("a",), "last in the file"),
        problem(("b", "y", 1), "second item"),
        problem(("b", "missing"), "not written: sorts with b"),
        problem(("b", "x"), "first key of b"),
    ]
    assert in_file_order(found, data) == [
        "b.missing: not written: sorts with b",
        "b.x: first key of b",
        "b.y[1]: second item",
        "a: last in the file",
    ]


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [("zalo", "botTokn", "botToken"), ("zalouser", "dmPolcy", "dmPolicy")],
)
def test_a_typo_in_a_channel_section_gets_did_you_mean(section: str, typo: str, meant: str) -> None:

    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {section: {typo: "x"}}}, env={})
    assert caught.value.problems == [
        f"channels.{section}.{typo}: unknown key (did you mean {meant!r}?)"
    ]
