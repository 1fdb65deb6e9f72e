"""Splitting styled text into Zalo messages, with the style ranges re-based per chunk.

Formatting comes first (:mod:`.markdown_styles`), chunking second: the limit applies to the
text Zalo will count, and a style that crosses a split is cut into one range per chunk.

Nothing is dropped or added: the chunks joined in order are exactly the formatted text.
``length`` mode fills each chunk up to the limit and breaks after the last newline in the
window, else after the last whitespace, else hard at the limit; ``newline`` mode prefers the
end of the last paragraph break (a blank line) in the window first. A surrogate pair is never
split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from zalogate.channels.zalouser.markdown_styles import StyledText
from zalogate.personal.spans import TextStyle
from zalogate.text import utf16_offsets

__all__ = ["chunk_styled"]

ChunkMode = Literal["length", "newline"]


def _break_point(text: str, start: int, end: int, mode: ChunkMode) -> int:
    """Where to end the chunk ``text[start:...]`` given the window end ``end`` (exclusive)."""
    window = text[start:end]
    if mode == "newline":
        paragraph = window.rfind("\n\n")
        if paragraph > 0:
            cut = paragraph + 2
            while start + cut < end and text[start + cut] == "\n":
                cut += 1
            return start + cut
    newline = window.rfind("\n")
    if newline > 0:
        return start + newline + 1
    for index in range(len(window) - 1, 0, -1):
        if window[index].isspace():
            return start + index + 1
    return end


def chunk_styled(
    styled: StyledText, limit: int = 2000, mode: ChunkMode = "length"
) -> list[StyledText]:
    """Split ``styled`` into chunks of at most ``limit`` UTF-16 units.

    Args:
        styled: Formatted text and its styles.
        limit: Units per message (at least 2, so that a surrogate pair fits).
        mode: ``length`` or ``newline``.

    Returns:
        The chunks in order (one chunk, unchanged, when the text fits; none for empty text).

    Raises:
        ValueError: ``limit`` below 2 or an unknown mode.
    """
    if limit < 2:
        raise ValueError("the chunk limit must be at least 2 UTF-16 code units")
    if mode not in ("length", "newline"):
        raise ValueError(f"unknown chunk mode {mode!r}")
    text = styled.text
    if not text:
        return []
    offsets = utf16_offsets(text)
    if offsets[-1] <= limit:
        return [styled]
    chunks: list[StyledText] = []
    start = 0
    n = len(text)
    while start < n:
        # The largest end whose units fit the limit.
        end = start
        budget = offsets[start] + limit
        lo, hi = start, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if offsets[mid] <= budget:
                lo = mid
            else:
                hi = mid - 1
        end = lo
        if end <= start:  # cannot happen with limit >= 2; guard against a loop
            end = start + 1
        cut = end if end >= n else _break_point(text, start, end, mode)
        unit_start, unit_end = offsets[start], offsets[cut]
        chunks.append(StyledText(text[start:cut], _rebase(styled.styles, unit_start, unit_end)))
        start = cut
    return chunks


def _rebase(styles: Sequence[TextStyle], start: int, end: int) -> tuple[TextStyle, ...]:
    out: list[TextStyle] = []
    for style in styles:
        lo = max(style.start, start)
        hi = min(style.start + style.length, end)
        if hi > lo:
            out.append(TextStyle(start=lo - start, length=hi - lo, style=style.style))
    return tuple(out)
