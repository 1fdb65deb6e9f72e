"""UTF-16 measuring, cutting and slicing of Python strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zalogate.text import truncate_utf16, utf16_end, utf16_len, utf16_offsets, utf16_slice

# Any code point, lone surrogates included (a Python str can hold them).
ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=40)


def _js_units(text: str) -> int:
    """Reference count: one unit per code point, one more above the BMP."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def test_bmp_characters_count_one_unit_and_astral_two() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("chào ờ") == 6
    assert utf16_len("😀") == 2
    assert utf16_len("a😀b") == 4


def test_a_lone_surrogate_counts_one_unit() -> None:
    assert utf16_len("\ud83d") == 1
    assert utf16_len("a\udc00b") == 3
    # Two lone halves held as two code points are still two units, like the pair they form.
    assert utf16_len("\ud83d\ude00") == 2


def test_truncate_keeps_whole_pairs() -> None:
    assert truncate_utf16("😀😀", 3) == "😀"
    assert truncate_utf16("😀😀", 4) == "😀😀"
    assert truncate_utf16("abc", 10) == "abc"
    assert truncate_utf16("abc", 0) == ""


def test_end_starts_counting_at_start() -> None:
    assert utf16_end("ab😀cd", 2, 2) == 3
    assert utf16_end("ab😀cd", 2, 1) == 2


def test_offsets_give_units_before_each_code_point() -> None:
    assert utf16_offsets("a😀b") == [0, 1, 3, 4]
    assert utf16_offsets("ab") == [0, 1, 2]
    assert utf16_offsets("") == [0]


def test_slice_uses_javascript_indices() -> None:
    assert utf16_slice("a👋b@Bot", 4, 4) == "@Bot"
    assert utf16_slice("hello", 1, 3) == "ell"
    # Half a pair cannot be encoded; it becomes U+FFFD.
    assert utf16_slice("😀x", 1, 2) == "\ufffdx"


def test_slice_accepts_a_lone_surrogate() -> None:
    assert utf16_slice("\ud83dab", 1, 2) == "ab"


@given(ANY_TEXT)
def test_length_is_one_unit_per_code_point_plus_one_above_the_bmp(text: str) -> None:
    assert utf16_len(text) == _js_units(text)


@given(ANY_TEXT)
def test_offsets_end_at_the_length_and_grow_by_each_character(text: str) -> None:
    offsets = utf16_offsets(text)
    assert len(offsets) == len(text) + 1
    assert offsets[-1] == utf16_len(text)
    assert all(offsets[i + 1] - offsets[i] == utf16_len(c) for i, c in enumerate(text))


@given(ANY_TEXT, st.integers(min_value=0, max_value=90))
def test_truncation_is_the_longest_prefix_within_the_limit(text: str, limit: int) -> None:
    cut = truncate_utf16(text, limit)
    assert text.startswith(cut)
    assert utf16_len(cut) <= limit
    if cut != text:
        assert utf16_len(text[: len(cut) + 1]) > limit


@given(st.text(max_size=30), st.text(max_size=30))
def test_slicing_at_a_prefix_length_gives_back_the_rest(head: str, tail: str) -> None:
    # st.text() without surrogates: the slice must round-trip exactly.
    text = head + tail
    assert utf16_slice(text, utf16_len(head), utf16_len(tail)) == tail
    assert utf16_slice(text, 0, utf16_len(head)) == head
