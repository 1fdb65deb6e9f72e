"""Markdown -> Zalo text plus native text styles (bold, italic, strike, headings, lists, indent).

Zalo shows plain text with style ranges (``textProperties``); positions and lengths are UTF-16
code units. :func:`markdown_to_styled` converts the Markdown a model writes:

* ``**b**`` / ``__b__`` bold, ``*i*`` / ``_i_`` italic, ``***bi***`` both, ``~~s~~`` strike;
  ``_`` inside a word (``snake_case``) stays literal;
* ``{red}`` ``{orange}`` ``{yellow}`` ``{green}`` ``{big}`` ``{underline}`` ... ``{/tag}`` colour
  and size tags (``{small}`` is accepted and gives no style); unknown tags stay literal;
* ``#`` to ``####`` headings: bold (``#`` also big);
* ``-``/``*``/``+`` bullets (``lst_1``) and ``1.`` numbered items (``lst_2``), the marker
  removed; nested items and ``>`` blockquotes get ``ind_<n>0`` (at most 5 levels); task items
  (``- [ ] x``) are kept literally;
* code is kept literal: fenced blocks lose their fence lines, indented blocks (4 spaces or a
  tab) keep their text, and leading spaces of code lines become no-break spaces (a tab four)
  so that Zalo does not eat the indentation; inline code keeps its backticks;
* ``\\`` escapes a punctuation character; CRLF becomes LF.

Plain text without Markdown comes out unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zalogate.personal.spans import Style, TextStyle
from zalogate.text import utf16_offsets

__all__ = ["NBSP", "StyledText", "markdown_to_styled"]

NBSP = "\u00a0"
_MAX_INDENT = 5
_COLOR_TAGS = {
    "red": Style.RED,
    "orange": Style.ORANGE,
    "yellow": Style.YELLOW,
    "green": Style.GREEN,
    "big": Style.BIG,
    "underline": Style.UNDERLINE,
    "bold": Style.BOLD,
    "italic": Style.ITALIC,
    "small": None,
}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^(#{1,4})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?")
_BULLET = re.compile(r"^([ \t]*)([-*+])[ \t]+(.*)$")
_NUMBERED = re.compile(r"^([ \t]*)(\d{1,9})[.)][ \t]+(.*)$")
_TASK = re.compile(r"^\[[ xX]\][ \t]")
_ESCAPABLE = frozenset("\\`*_{}[]()#+-.!~>|<")


@dataclass(frozen=True, slots=True)
class StyledText:
    """Plain text and its style ranges (UTF-16 offsets, as Zalo counts)."""

    text: str
    styles: tuple[TextStyle, ...] = ()


@dataclass(slots=True)
class _Span:
    start: int  # code point index
    end: int
    style: str


def _columns(prefix: str) -> int:
    return sum(4 if ch == "\t" else 1 for ch in prefix)


def _code_line(line: str) -> str:
    stripped = line.lstrip(" \t")
    lead = line[: len(line) - len(stripped)]
    return "".join(NBSP * 4 if ch == "\t" else NBSP for ch in lead) + stripped


# --------------------------------------------------------------------------- inline


def _run_length(text: str, pos: int, char: str) -> int:
    end = pos
    while end < len(text) and text[end] == char:
        end += 1
    return end - pos


def _skip_code(text: str, pos: int) -> int:
    """If a code span starts at ``pos``, the index after it; else ``pos``."""
    ticks = _run_length(text, pos, "`")
    closer = text.find("`" * ticks, pos + ticks)
    while closer != -1 and _run_length(text, closer, "`") != ticks:
        closer = text.find("`" * ticks, closer + _run_length(text, closer, "`"))
    return pos if closer == -1 else closer + ticks


def _find_closer(text: str, start: int, delim: str) -> int:
    """Index of the run closing ``delim`` opened before ``start``, or -1."""
    char = delim[0]
    pos = start
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            pos += 2
            continue
        if ch == "`":
            after = _skip_code(text, pos)
            pos = after if after != pos else pos + 1
            continue
        if ch == char:
            run = _run_length(text, pos, char)
            if (
                run == len(delim)
                and pos > start
                and not text[pos - 1].isspace()
                and not (char == "_" and pos + run < len(text) and text[pos + run].isalnum())
            ):
                return pos
            pos += run
            continue
        pos += 1
    return -1


class _Inline:
    """Parses inline Markdown into plain text and code point spans."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.length = 0
        self.spans: list[_Span] = []

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)

    def styled(self, inner: str, styles: tuple[str | None, ...]) -> None:
        begin = self.length
        self.parse(inner)
        for style in styles:
            if style is not None and self.length > begin:
                self.spans.append(_Span(begin, self.length, style))

    def parse(self, text: str) -> None:
        pos = 0
        n = len(text)
        plain_from = 0

        def flush(upto: int) -> None:
            if upto > plain_from:
                self.emit(text[plain_from:upto])

        while pos < n:
            ch = text[pos]
            if ch == "\\" and pos + 1 < n and text[pos + 1] in _ESCAPABLE:
                flush(pos)
                self.emit(text[pos + 1])
                pos += 2
                plain_from = pos
                continue
            if ch == "`":
                after = _skip_code(text, pos)
                if after != pos:
                    flush(pos)
                    self.emit(text[pos:after])
                    pos = plain_from = after
                    continue
                pos += _run_length(text, pos, "`")
                continue
            if ch == "{":
                close = text.find("}", pos + 1)
                tag = text[pos + 1 : close].lower() if close != -1 else ""
                if tag in _COLOR_TAGS:
                    end = text.lower().find("{/" + tag + "}", close + 1)
                    if end != -1:
                        flush(pos)
                        self.styled(text[close + 1 : end], (_COLOR_TAGS[tag],))
                        pos = plain_from = end + len(tag) + 3
                        continue
                pos += 1
                continue
            if ch in "*_~":
                run = _run_length(text, pos, ch)
                styles = _delimiter_styles(ch, run)
                opens = (
                    styles is not None
                    and pos + run < n
                    and not text[pos + run].isspace()
                    and not (ch == "_" and pos > 0 and text[pos - 1].isalnum())
                )
                if opens:
                    delim = ch * run
                    close = _find_closer(text, pos + run, delim)
                    if close != -1:
                        flush(pos)
                        assert styles is not None
                        self.styled(text[pos + run : close], styles)
                        pos = plain_from = close + run
                        continue
                pos += run
                continue
            pos += 1
        flush(n)


def _delimiter_styles(char: str, run: int) -> tuple[str, ...] | None:
    if char == "~":
        return (Style.STRIKE,) if run == 2 else None
    if run == 1:
        return (Style.ITALIC,)
    if run == 2:
        return (Style.BOLD,)
    if run == 3:
        return (Style.BOLD, Style.ITALIC)
    return None


def _inline(text: str) -> tuple[str, list[_Span]]:
    parser = _Inline()
    parser.parse(text)
    return "".join(parser.out), parser.spans


# --------------------------------------------------------------------------- blocks


def markdown_to_styled(markdown: str) -> StyledText:
    """Convert ``markdown`` into Zalo text and style ranges (see the module docstring)."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    spans: list[_Span] = []
    length = 0
    fence: str | None = None
    previous_list = False

    def add(text: str, line_spans: list[_Span], line_styles: tuple[str, ...]) -> None:
        nonlocal length
        if out:
            out.append("\n")
            length += 1
        base = length
        out.append(text)
        length += len(text)
        for span in line_spans:
            spans.append(_Span(span.start + base, span.end + base, span.style))
        if text:
            for style in line_styles:
                spans.append(_Span(base, base + len(text), style))

    for line in lines:
        if fence is not None:
            match = _FENCE.match(line)
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not match.group(2).strip()
            ):
                fence = None
                continue
            add(_code_line(line), [], ())
            continue
        match = _FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
            previous_list = False
            continue
        if not line.strip():
            add(line, [], ())
            previous_list = False
            continue
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        is_list = bool(_BULLET.match(line) or _NUMBERED.match(line))
        if _columns(lead) >= 4 and not (previous_list and is_list):
            add(_code_line(line), [], ())
            previous_list = False
            continue
        depth = 0
        body = line
        while (quote := _QUOTE.match(body)) is not None:
            depth += 1
            body = body[quote.end() :]
        styles: list[str] = []
        heading = _HEADING.match(body)
        bullet = _BULLET.match(body)
        numbered = _NUMBERED.match(body)
        marker = bullet or numbered
        if marker is not None and not marker.group(3).strip():
            bullet = numbered = None  # "1. " with nothing after it is text, not an empty item
        level = depth
        if heading is not None and depth == 0:
            body = heading.group(2)
            styles.append(Style.BOLD)
            if len(heading.group(1)) == 1:
                styles.append(Style.BIG)
            previous_list = False
        elif bullet is not None or numbered is not None:
            item = bullet or numbered
            assert item is not None
            level += _columns(item.group(1)) // 2
            rest = item.group(3)
            if bullet is not None and _TASK.match(rest):
                body = body.lstrip(" \t")
            else:
                body = rest
                styles.append(Style.BULLET_LIST if bullet is not None else Style.NUMBERED_LIST)
            previous_list = True
        else:
            body = body.lstrip(" \t") if depth else body
            previous_list = False
        if level:
            styles.append(Style.indent(min(level, _MAX_INDENT)))
        text, line_spans = _inline(body)
        add(text, line_spans, tuple(styles))
    text = "".join(out)
    return StyledText(text, _to_utf16(text, spans))


def _to_utf16(text: str, spans: list[_Span]) -> tuple[TextStyle, ...]:
    if not spans:
        return ()
    offsets = utf16_offsets(text)
    styles = [
        TextStyle(start=offsets[s.start], length=offsets[s.end] - offsets[s.start], style=s.style)
        for s in sorted(spans, key=lambda s: (s.start, -s.end))
        if s.end > s.start
    ]
    return tuple(styles)
