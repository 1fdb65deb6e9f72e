"""Chunking after formatting, with styles re-based per chunk (P24, P25, P26) and its
properties (chunks join to the text, fit the limit, never split a surrogate pair)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zalogate.channels.zalouser.markdown_styles import (
    NBSP,
    StyledText,
    markdown_to_styled,
)
from zalogate.channels.zalouser.styled_chunks import chunk_styled
from zalogate.personal.spans import TextStyle
from zalogate.text import utf16_offsets


def test_long_bold_text_is_split_with_the_style_in_each_chunk() -> None:
    """P25: ``**ax2501**`` -> ax2000 bold {0,2000}, then ax501 bold {0,501}."""
    chunks = chunk_styled(markdown_to_styled("**" + "a" * 2501 + "**"), 2000)
    assert [c.text for c in chunks] == ["a" * 2000, "a" * 501]
    assert [c.styles for c in chunks] == [(TextStyle(0, 2000, "b"),), (TextStyle(0, 501, "b"),)]


def test_custom_limit() -> None:
    """P25: limit 1200 with ``**ax1501**`` -> 1200 + 301."""
    chunks = chunk_styled(markdown_to_styled("**" + "a" * 1501 + "**"), 1200)
    assert [len(c.text) for c in chunks] == [1200, 301]


def test_formatting_can_push_text_over_the_limit() -> None:
    """P24: tabs become four NBSP each, so 500 tabs + 1500 letters need two messages."""
    styled = markdown_to_styled("\t" * 500 + "a" * 1500)
    chunks = chunk_styled(styled, 2000)
    assert len(chunks) == 2
    assert all(len(c.text) <= 2000 for c in chunks)
    assert "".join(c.text for c in chunks) == NBSP * 2000 + "a" * 1500


def test_newline_mode_breaks_after_the_paragraph() -> None:
    """P26: ``**ax1995**\\n\\nsecond paragraph`` -> ``ax1995\\n\\n`` bold, then the rest plain."""
    styled = markdown_to_styled("**" + "a" * 1995 + "**\n\nsecond paragraph")
    first, second = chunk_styled(styled, 2000, "newline")
    assert first.text == "a" * 1995 + "\n\n"
    assert first.styles == (TextStyle(0, 1995, "b"),)
    assert (second.text, second.styles) == ("second paragraph", ())


def test_short_text_is_one_chunk_and_empty_text_none() -> None:
    styled = markdown_to_styled("**hi**")
    assert chunk_styled(styled) == [styled]
    assert chunk_styled(StyledText("")) == []


def test_length_mode_prefers_a_line_break_in_the_window() -> None:
    text = "x" * 10 + "\n" + "y" * 10
    chunks = chunk_styled(StyledText(text), 15)
    assert [c.text for c in chunks] == ["x" * 10 + "\n", "y" * 10]


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from([*list("ab \n*"), "😀"]), max_size=300),
    st.integers(min_value=2, max_value=40),
    st.sampled_from(["length", "newline"]),
)
def test_chunks_join_to_the_text_and_fit(text: str, limit: int, mode: str) -> None:
    styled = markdown_to_styled(text)
    chunks = chunk_styled(styled, limit, mode)  # type: ignore[arg-type]
    assert "".join(c.text for c in chunks) == styled.text
    for chunk in chunks:
        units = utf16_offsets(chunk.text)[-1]
        assert 0 < units <= limit
        assert not (chunk.text and 0xDC00 <= ord(chunk.text[0]) <= 0xDFFF)
        for style in chunk.styles:
            assert style.length > 0
            assert style.start + style.length <= units


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=120), st.integers(min_value=2, max_value=50))
def test_style_units_are_preserved_across_chunks(size: int, limit: int) -> None:
    styled = markdown_to_styled("**" + "😀" * size + "**")
    chunks = chunk_styled(styled, limit)
    assert sum(s.length for c in chunks for s in c.styles) == 2 * size
