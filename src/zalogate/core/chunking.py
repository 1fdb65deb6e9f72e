"""Splitting reply text into messages that Zalo accepts.

Zalo counts text length in UTF-16 code units (an emoji outside the BMP counts 2), so the limit
is measured with :func:`zalogate.text.utf16_len`. Chunks are cut at code-point boundaries, so a
surrogate pair is never split.

``length`` mode fills each chunk up to the limit and breaks at the last newline in the window,
else at the last whitespace (both preferably outside parentheses), else hard at the limit.
``newline`` mode first splits the text at every blank-line paragraph boundary (outside code
fences) and then length-chunks each paragraph.

Markdown code fences (lines opening with three or more backticks) are never left open across
chunks: a chunk that ends inside a fence gets a closing fence line, and the next chunk starts
with the fence's opening line again (with its info string).

What is dropped, precisely: at a break on a newline or whitespace the separator is consumed,
the chunk's trailing whitespace is trimmed and the following chunk's leading blank lines (and,
after a whitespace break, its leading horizontal whitespace) are skipped; text that is only
whitespace yields no chunk. A hard cut drops nothing. Apart from the fence lines inserted for
closing and reopening, the chunks joined in order give back the text with only whitespace at
the split points missing.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from zalogate.text import utf16_end, utf16_len

__all__ = [
    "DEFAULT_TEXT_LIMIT",
    "ChunkMode",
    "chunk_text",
    "fence_spans",
]

ChunkMode = Literal["length", "newline"]
DEFAULT_TEXT_LIMIT = 2000

_FENCE_LINE = re.compile(r"^( {0,3})(`{3,})([^`\n]*)$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True, slots=True)
class _FenceEvent:
    start: int
    """Index of the first character of the fence line."""
    end: int
    """Index just after the fence line (its newline, or the text end)."""
    opens: bool
    opener: str
    """The opening line of the fence this event opens or closes (indent, ticks, info)."""
    ticks: int


def fence_spans(text: str) -> list[tuple[int, int]]:
    """``(open_line_start, close_line_end)`` of each fenced code block (end = len if unclosed)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for event in _fence_events(text):
        if event.opens:
            start = event.start
        elif start is not None:
            spans.append((start, event.end))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _lines(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        end = n if nl == -1 else nl
        yield pos, end
        if nl == -1:
            return
        pos = nl + 1


def _fence_events(text: str) -> list[_FenceEvent]:
    events: list[_FenceEvent] = []
    open_event: _FenceEvent | None = None
    for start, end in _lines(text):
        line = text[start:end].rstrip("\r")
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        ticks = len(match.group(2))
        if open_event is None:
            open_event = _FenceEvent(start, end, True, line.rstrip(), ticks)
            events.append(open_event)
        elif ticks >= open_event.ticks and not match.group(3).strip():
            events.append(_FenceEvent(start, end, False, open_event.opener, open_event.ticks))
            open_event = None
    return events


class _FenceMap:
    """Answers "is position p inside a fence, and which one" in O(log n)."""

    def __init__(self, text: str) -> None:
        self.events = _fence_events(text)
        self.ends = [event.end for event in self.events]
        self.openers_by_end = {event.end: event for event in self.events if event.opens}

    def open_at(self, pos: int) -> _FenceEvent | None:
        """The fence open at ``pos`` (fence lines count once wholly before ``pos``)."""
        index = bisect.bisect_right(self.ends, pos) - 1
        if index < 0:
            return None
        event = self.events[index]
        return event if event.opens else None

    def line_containing(self, pos: int) -> _FenceEvent | None:
        """The fence line strictly containing ``pos`` (not at its start or newline), if any."""
        index = bisect.bisect_left(self.ends, pos)
        if index < len(self.events):
            event = self.events[index]
            if event.start < pos < event.end:
                return event
        return None

    def max_overhead(self) -> int:
        """Units needed for the longest reopen line plus a closing line."""
        if not self.events:
            return 0
        opener = max(utf16_len(event.opener) + 1 for event in self.events if event.opens)
        closer = max(event.ticks + 1 for event in self.events)
        return opener + closer


def chunk_text(text: str, limit: int = DEFAULT_TEXT_LIMIT, mode: ChunkMode = "length") -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` UTF-16 code units.

    Args:
        text: The reply text (Markdown or plain).
        limit: The per-message limit in UTF-16 code units (at least 2).
        mode: ``length`` (fill each chunk) or ``newline`` (one chunk per paragraph at least).

    Returns:
        The chunks in order; empty when ``text`` is empty or only whitespace.

    Raises:
        ValueError: ``limit`` below 2 or an unknown mode.
    """
    if limit < 2:
        raise ValueError("the chunk limit must be at least 2 UTF-16 code units")
    if mode not in ("length", "newline"):
        raise ValueError(f"unknown chunk mode {mode!r}")
    if not text.strip():
        return []
    if mode == "length":
        if len(text) <= limit // 2 or utf16_len(text) <= limit:
            return [text]  # fits as it is (the common case): no fence scan, no split search
        return _chunk_length(text, limit)
    chunks: list[str] = []
    for paragraph in _paragraphs(text):
        chunks.extend(_chunk_length(paragraph, limit))
    return chunks


def _paragraphs(text: str) -> list[str]:
    """Split at blank lines that are not inside a code fence."""
    fences = fence_spans(text)
    starts = [start for start, _ in fences]
    pieces: list[str] = []
    pos = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        index = bisect.bisect_right(starts, match.start()) - 1
        if index >= 0 and fences[index][0] <= match.start() < fences[index][1]:
            continue
        pieces.append(text[pos : match.start()])
        pos = match.end()
    pieces.append(text[pos:])
    return [piece for piece in pieces if piece.strip()]


def _choose_split(text: str, pos: int, end: int, fences: _FenceMap) -> tuple[int, bool]:
    """Pick where to break ``text[pos:]`` given the window end ``end`` (exclusive).

    Preference: the last newline outside parentheses, the last whitespace outside
    parentheses, the last newline, the last whitespace, a hard cut at ``end``. Parentheses
    inside code fences do not count, and whitespace inside a fence line is never used.

    Returns:
        ``(index, consumes)``: break before ``index``; ``consumes`` is True when
        ``text[index]`` is a separator (newline or whitespace) to drop.
    """
    depth = 0
    newline_top = space_top = newline_any = space_any = -1
    for index in range(pos, end + 1):
        char = text[index]
        if char in "()":
            if fences.open_at(index) is None:
                depth = depth + 1 if char == "(" else max(0, depth - 1)
        elif index > pos and char.isspace():
            if char == "\n":
                newline_any = index
                newline_top = index if depth == 0 else newline_top
            elif fences.line_containing(index) is None:
                space_any = index
                space_top = index if depth == 0 else space_top
    for candidate in (newline_top, space_top, newline_any, space_any):
        if candidate == -1:
            continue
        opener = fences.openers_by_end.get(candidate)
        if opener is not None:
            # Do not end a chunk right after an opening fence line: break before it instead.
            earlier = text.rfind("\n", pos + 1, opener.start)
            if earlier != -1:
                return earlier, True
        return candidate, True
    inside = fences.line_containing(end)
    if inside is not None and inside.start > pos:
        return inside.start, False
    return end, False


def _chunk_length(text: str, limit: int) -> list[str]:
    fences = _FenceMap(text)
    repair = bool(fences.events) and fences.max_overhead() + 2 <= limit
    closer_max = max((event.ticks + 1 for event in fences.events), default=0)
    chunks: list[str] = []
    prefix = ""
    pos = 0
    n = len(text)
    while pos < n:
        base = limit - utf16_len(prefix)
        end = utf16_end(text, pos, base)
        if end >= n:
            if text[pos:].strip():
                chunks.append(prefix + text[pos:])
            break
        split, consumes = _choose_split(text, pos, end, fences)
        fence = fences.open_at(split) if repair else None
        head = text[pos:split].rstrip() if consumes else text[pos:split]
        closer = "\n" + "`" * fence.ticks if fence is not None else ""
        if fence is not None and utf16_len(prefix + head + closer) > limit:
            end = utf16_end(text, pos, base - closer_max)
            split, consumes = _choose_split(text, pos, end, fences)
            fence = fences.open_at(split)
            head = text[pos:split].rstrip() if consumes else text[pos:split]
            closer = "\n" + "`" * fence.ticks if fence is not None else ""
        if head.strip():
            chunks.append(prefix + head + closer)
        pos = split + 1 if consumes else split
        if consumes:
            if text[split] != "\n":
                while pos < n and text[pos].isspace() and text[pos] not in "\r\n":
                    pos += 1
            while pos < n and text[pos] in "\r\n":
                pos += 1
        prefix = fence.opener + "\n" if fence is not None else ""
    return chunks
