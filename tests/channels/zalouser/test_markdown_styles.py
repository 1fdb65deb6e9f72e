"""Markdown -> Zalo text styles (reference scenarios P22, P23, P39) and properties of the
conversion (offsets are UTF-16, ranges stay inside the text, plain text is unchanged)."""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from zalogate.channels.zalouser.markdown_styles import NBSP, markdown_to_styled
from zalogate.personal.spans import TextStyle
from zalogate.text import utf16_offsets


def styles_of(markdown: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.length, s.style) for s in markdown_to_styled(markdown).styles]


def text_of(markdown: str) -> str:
    return markdown_to_styled(markdown).text


def test_bold_italic_strike_have_the_reference_offsets() -> None:
    """P39: ``**bold** *italic* ~~strike~~`` -> b{0,4}, i{5,6}, s{12,6}."""
    assert text_of("**bold** *italic* ~~strike~~") == "bold italic strike"
    assert styles_of("**bold** *italic* ~~strike~~") == [(0, 4, "b"), (5, 6, "i"), (12, 6, "s")]


def test_heading_quote_and_nested_list() -> None:
    """P39: ``# Title`` bold + big, ``> quoted`` indented one level, ``  - nested`` a bullet."""
    styled = markdown_to_styled("# Title\n> quoted\n  - nested")
    assert styled.text == "Title\nquoted\nnested"
    found = {(s.start, s.length, s.style) for s in styled.styles}
    assert {(0, 5, "b"), (0, 5, "f_18"), (6, 6, "ind_10"), (13, 6, "lst_1")} <= found


def test_small_tag_gives_no_style_and_colour_tags_do() -> None:
    assert text_of("{small}tiny{/small}") == "tiny"
    assert styles_of("{small}tiny{/small}") == []
    assert styles_of("a {red}warn{/red}") == [(2, 4, "c_db342e")]
    assert text_of("{unknown}x{/unknown}") == "{unknown}x{/unknown}"


def test_escaped_markers_stay_literal() -> None:
    assert text_of(r"\*not italic\* and \_x\_") == "*not italic* and _x_"
    assert styles_of(r"\*not italic\*") == []


def test_indented_code_keeps_its_text_with_no_break_spaces() -> None:
    """P39: ``    *cmd*`` -> four NBSP + ``*cmd*`` (no italic)."""
    assert text_of("    *cmd*") == NBSP * 4 + "*cmd*"
    assert styles_of("    *cmd*") == []
    assert text_of("\tx") == NBSP * 4 + "x"


def test_plain_text_is_literal() -> None:
    """P22 (the literal path): text without Markdown comes out as it went in."""
    assert text_of("hello world, 2 * 3 = 6") == "hello world, 2 * 3 = 6"
    assert text_of("snake_case_name and a_b") == "snake_case_name and a_b"


def test_caption_examples() -> None:
    """P23: ``**hello**`` -> bold ``hello``; ``_cap_`` -> italic ``cap``; an empty fence -> ""."""
    assert markdown_to_styled("**hello**").styles == (TextStyle(0, 5, "b"),)
    assert markdown_to_styled("_cap_").styles == (TextStyle(0, 3, "i"),)
    empty = markdown_to_styled("```\n```")
    assert (empty.text, empty.styles) == ("", ())


def test_fenced_code_is_literal_without_fence_lines() -> None:
    styled = markdown_to_styled("before\n```python\n  x = **y**\n```\nafter")
    assert styled.text == f"before\n{NBSP * 2}x = **y**\nafter"
    assert styled.styles == ()


def test_inline_code_keeps_backticks_and_no_styles_inside() -> None:
    assert text_of("run `a *b* c` now") == "run `a *b* c` now"
    assert styles_of("run `a *b* c` now") == []


def test_lists_lose_their_markers_and_task_items_stay() -> None:
    styled = markdown_to_styled("- one\n2. two\n- [ ] todo")
    assert styled.text == "one\ntwo\n- [ ] todo"
    assert [(s.start, s.length, s.style) for s in styled.styles] == [
        (0, 3, "lst_1"),
        (4, 3, "lst_2"),
    ]


def test_bold_italic_together_and_nested_quote_depth() -> None:
    assert {s.style for s in markdown_to_styled("***both***").styles} == {"b", "i"}
    assert "ind_20" in {s.style for s in markdown_to_styled(">> deep").styles}


def test_offsets_count_utf16_units() -> None:
    """An emoji outside the BMP counts two units, as Zalo (JavaScript) counts."""
    styled = markdown_to_styled("😀 **hi**")
    assert styled.text == "😀 hi"
    assert styled.styles == (TextStyle(3, 2, "b"),)


def test_crlf_is_normalised() -> None:
    assert text_of("a\r\n**b**") == "a\nb"


_MARKDOWNISH = st.lists(
    st.sampled_from([*"ab *_~`#>-+1.{}\\\n\t", "😀", "ế", "{red}", "{/red}", "**", "```"]),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MARKDOWNISH)
def test_styles_always_lie_inside_the_text(markdown: str) -> None:
    styled = markdown_to_styled(markdown)
    total = utf16_offsets(styled.text)[-1]
    for style in styled.styles:
        assert style.length > 0
        assert style.start >= 0
        assert style.start + style.length <= total


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=string.ascii_letters + string.digits + " ,.?!", max_size=60).filter(
        lambda text: re.match(r"\s*\d+\.\s+\S", text) is None  # "1. item" is a numbered list
    )
)
def test_text_without_markers_is_unchanged(text: str) -> None:
    styled = markdown_to_styled(text)
    assert styled.text == text
    assert styled.styles == ()


def test_a_list_marker_without_an_item_stays_text() -> None:
    for text in ("0. ", "12. ", "- ", "1. \n2. b"):
        styled = markdown_to_styled(text)
        assert styled.text.startswith(text.split("\n")[0])
    assert markdown_to_styled("1. a").text == "a"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=30).filter(str.strip))
def test_bold_wraps_exactly_the_inner_text(inner: str) -> None:
    inner = inner.strip()
    styled = markdown_to_styled(f"x **{inner}** y")
    assert styled.text == f"x {inner} y"
    assert styled.styles == (TextStyle(2, len(inner), "b"),)
