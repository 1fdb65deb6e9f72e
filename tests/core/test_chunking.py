"""Reply chunking (gateway-behaviour §4.6; zalo-bot-api §4.2 and §10 #5, #34;
zalo-personal §5.7 and §8 #24-#26)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zalogate.core.chunking import chunk_text
from zalogate.text import truncate_utf16, utf16_len

FENCE = re.compile(r"^ {0,3}(`{3,})([^`]*)$")


def without_fence_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not FENCE.match(line.rstrip("\r")))


def ends_inside_fence(chunk: str) -> bool:
    """An independent fence scanner: is a fence still open at the end of ``chunk``?"""
    ticks = 0
    for line in chunk.split("\n"):
        match = FENCE.match(line.rstrip("\r"))
        if match is None:
            continue
        if ticks == 0:
            ticks = len(match.group(1))
        elif len(match.group(1)) >= ticks and not match.group(2).strip():
            ticks = 0
    return ticks > 0


def assert_same_content_modulo_split_whitespace(text: str, chunks: list[str]) -> None:
    """Chunks joined in order equal ``text`` except for whitespace at the split points."""
    pattern = r"\s*" + r"\s*".join(re.escape(chunk) for chunk in chunks) + r"\s*"
    assert re.fullmatch(pattern, text, flags=re.DOTALL), (text, chunks)


# --------------------------------------------------------------------------- unit behaviour


def test_utf16_len_counts_astral_characters_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("ờ") == 1
    assert utf16_len("😀") == 2
    assert utf16_len("a😀b") == 4


def test_short_text_is_one_unchanged_chunk() -> None:
    assert chunk_text("hello\n\nworld  ", 2000) == ["hello\n\nworld  "]


def test_empty_or_blank_text_gives_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []


def test_limit_below_two_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        chunk_text("abc", 1)


def test_3000_char_reply_is_split_at_newline_or_space() -> None:
    """zalo-bot-api §10 #34: ≥ 2 chunks, each ≤ 2000, split at a newline or space."""
    words = " ".join(f"word{i}" for i in range(600))
    text = words[:1500] + "\n" + words[:1499]
    chunks = chunk_text(text, 2000)
    assert len(chunks) >= 2
    assert all(utf16_len(chunk) <= 2000 for chunk in chunks)
    assert chunks[0] == words[:1500]
    assert_same_content_modulo_split_whitespace(text, chunks)


def test_prefers_the_last_newline_in_the_window() -> None:
    text = "aaa bbb\nccc ddd eee"
    assert chunk_text(text, 14) == ["aaa bbb", "ccc ddd eee"]


def test_falls_back_to_the_last_whitespace() -> None:
    assert chunk_text("aaa bbb ccc", 8) == ["aaa bbb", "ccc"]


def test_hard_cut_when_there_is_no_break_point() -> None:
    assert chunk_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]


def test_emoji_are_never_split() -> None:
    """zalo-bot-api §4.2: never split a surrogate pair; the limit counts UTF-16 units."""
    chunks = chunk_text("😀" * 7, 5)
    assert chunks == ["😀😀", "😀😀", "😀😀", "😀"]


def test_truncate_caption_keeps_whole_emoji() -> None:
    """zalo-bot-api §10 #5: a 2500-char caption ending in emoji → ≤ 2000 units, no broken
    pair."""
    caption = "x" * 1999 + "😀" * 300
    cut = truncate_utf16(caption, 2000)
    assert cut == "x" * 1999
    assert utf16_len(truncate_utf16("😀" * 1500, 2000)) == 2000


def test_code_fence_is_closed_and_reopened_with_its_info_string() -> None:
    """gateway §4.6: a split inside a fence closes it and reopens it (``python``)."""
    code = "\n".join(f"print({i})" for i in range(40))
    text = f"Intro line\n```python\n{code}\n```\nOutro"
    chunks = chunk_text(text, 120)
    assert len(chunks) > 2
    for chunk in chunks[:-1]:
        assert not ends_inside_fence(chunk), chunk
        assert utf16_len(chunk) <= 120
    assert chunks[1].startswith("```python\n")
    assert chunks[0].endswith("\n```")
    assert without_fence_lines("\n".join(chunks)).split() == without_fence_lines(text).split()


def test_chunk_does_not_end_right_after_an_opening_fence() -> None:
    text = "x" * 50 + "\n```js\n" + "let a = 1;\n" * 20 + "```"
    chunks = chunk_text(text, 70)
    assert chunks[0] == "x" * 50
    assert chunks[1].startswith("```js\nlet a")


def test_newline_mode_sends_each_paragraph_separately() -> None:
    """gateway §4.6: ``newline`` splits on blank-line paragraph boundaries first."""
    assert chunk_text("one\n\ntwo\n \n\nthree", 2000, "newline") == ["one", "two", "three"]


def test_newline_mode_keeps_code_blocks_with_blank_lines_together() -> None:
    text = "para\n\n```\na\n\nb\n```\n\nend"
    assert chunk_text(text, 2000, "newline") == ["para", "```\na\n\nb\n```", "end"]


def test_newline_mode_paragraph_then_long_paragraph() -> None:
    """zalo-personal §8 #26: ``a*1995\\n\\nsecond paragraph`` → ``a*1995`` then the second."""
    text = "a" * 1995 + "\n\nsecond paragraph"
    assert chunk_text(text, 2000, "newline") == ["a" * 1995, "second paragraph"]
    long = chunk_text("b" * 2500 + "\n\nc", 2000, "newline")
    assert long == ["b" * 2000, "b" * 500, "c"]


def test_length_mode_hard_splits_long_single_word() -> None:
    """zalo-personal §8 #25: ``a*2501`` → 2000 + 501; limit 1200 with 1501 → 1200 + 301."""
    assert [len(c) for c in chunk_text("a" * 2501, 2000)] == [2000, 501]
    assert [len(c) for c in chunk_text("a" * 1501, 1200)] == [1200, 301]


def test_crlf_text_splits_cleanly() -> None:
    chunks = chunk_text("line one\r\nline two\r\nline three", 12)
    assert chunks == ["line one", "line two", "line three"]


# --------------------------------------------------------------------------- properties

plain_text = st.text(
    alphabet=st.sampled_from(list("abcxyz ờđ中\n\t😀🇻🇳.,()")), min_size=0, max_size=600
)


@settings(max_examples=300, deadline=None)
@given(text=plain_text, limit=st.integers(min_value=2, max_value=120))
def test_property_chunks_fit_and_lose_only_split_whitespace(text: str, limit: int) -> None:
    chunks = chunk_text(text, limit)
    assert all(utf16_len(chunk) <= limit for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)
    if text.strip():
        assert_same_content_modulo_split_whitespace(text, chunks)
    else:
        assert chunks == []


@settings(max_examples=200, deadline=None)
@given(text=plain_text, limit=st.integers(min_value=2, max_value=120))
def test_property_newline_mode_chunks_fit_and_keep_content(text: str, limit: int) -> None:
    chunks = chunk_text(text, limit, "newline")
    assert all(utf16_len(chunk) <= limit for chunk in chunks)
    if text.strip():
        assert_same_content_modulo_split_whitespace(text, chunks)


prose = st.text(alphabet=st.sampled_from(list("abc xyz ờ😀\n")), min_size=0, max_size=150)
fence_block = st.builds(
    lambda ticks, info, body, closed: (
        f"{'`' * ticks}{info}\n{body}" + (f"\n{'`' * ticks}" if closed else "")
    ),
    st.integers(min_value=3, max_value=5),
    st.sampled_from(["", "python", "js title=x", "sh"]),
    st.text(alphabet=st.sampled_from(list("ab cd()😀\n  ")), min_size=0, max_size=300),
    st.booleans(),
)
markdown = st.lists(st.one_of(prose, fence_block), min_size=1, max_size=6).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(text=markdown, limit=st.integers(min_value=40, max_value=200))
def test_property_fences_never_stay_open_across_chunks(text: str, limit: int) -> None:
    chunks = chunk_text(text, limit)
    assert all(utf16_len(chunk) <= limit for chunk in chunks)
    for chunk in chunks[:-1]:
        assert not ends_inside_fence(chunk), (text, chunks)
    content = without_fence_lines(text)
    if content.strip():
        rebuilt = [without_fence_lines(chunk) for chunk in chunks]
        assert_same_content_modulo_split_whitespace(content, [c for c in rebuilt if c.strip()])


def test_prefers_breaks_outside_parentheses() -> None:
    """gateway §4.6: splits prefer break points outside parentheses."""
    text = "alpha beta (gamma delta epsilon) zeta"
    assert chunk_text(text, 30) == ["alpha beta", "(gamma delta epsilon) zeta"]


def test_unbalanced_parenthesis_does_not_force_hard_cuts() -> None:
    text = "sad :( " + "word " * 20
    chunks = chunk_text(text, 20)
    assert all(not chunk.startswith("ord") for chunk in chunks)
    assert_same_content_modulo_split_whitespace(text, chunks)
