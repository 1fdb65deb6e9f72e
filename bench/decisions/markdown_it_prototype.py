"""Prototype: markdown_to_styled on markdown-it-py tokens (for measurement only)."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from zalogate.channels.zalouser.markdown_styles import (
    NBSP,
    StyledText,
    _Span,
    _to_utf16,
    utf16_offsets,
)
from zalogate.personal.api import Style

__all__ = ["NBSP", "markdown_to_styled", "utf16_offsets"]

_MD = MarkdownIt("commonmark").enable("strikethrough")
_INLINE = {"strong": (Style.BOLD,), "em": (Style.ITALIC,), "s": (Style.STRIKE,)}


def _code_line(line: str) -> str:
    stripped = line.lstrip(" \t")
    lead = line[: len(line) - len(stripped)]
    return "".join(NBSP * 4 if ch == "\t" else NBSP for ch in lead) + stripped


def markdown_to_styled(markdown: str) -> StyledText:
    tokens = _MD.parse(markdown.replace("\r\n", "\n"))
    out: list[str] = []
    spans: list[_Span] = []
    length = 0
    quote = 0
    lists: list[str] = []
    first = True

    def newline() -> None:
        nonlocal length, first
        if not first:
            out.append("\n")
            length += 1
        first = False

    def emit(text: str) -> None:
        nonlocal length
        out.append(text)
        length += len(text)

    def inline(children: list[Token]) -> None:
        stack: list[tuple[str, int]] = []
        for child in children:
            if child.type == "text":
                emit(child.content)
            elif child.type == "code_inline":
                emit(child.markup + child.content + child.markup)
            elif child.type in ("softbreak", "hardbreak"):
                emit("\n")
            elif child.type.endswith("_open") and child.type[:-5] in _INLINE:
                stack.append((child.type[:-5], length))
            elif child.type.endswith("_close") and child.type[:-6] in _INLINE:
                kind, begin = stack.pop()
                for style in _INLINE[kind]:
                    if length > begin:
                        spans.append(_Span(begin, length, style))
            elif child.children:
                inline(child.children)
            else:
                emit(child.content)

    pending: list[str] = []
    for token in tokens:
        kind = token.type
        if kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(Style.BULLET_LIST if kind.startswith("bullet") else Style.NUMBERED_LIST)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "heading_open":
            pending = [Style.BOLD] + ([Style.BIG] if token.tag == "h1" else [])
        elif kind == "paragraph_open" and lists and token.hidden is not False:
            pending = [lists[-1]]
        elif kind == "paragraph_open":
            pending = [lists[-1]] if lists else []
        elif kind == "inline":
            newline()
            begin = length
            inline(token.children or [])
            level = quote + max(len(lists) - 1, 0)
            styles = list(pending)
            if level:
                styles.append(Style.indent(min(level, 5)))
            for style in styles:
                if length > begin:
                    spans.append(_Span(begin, length, style))
            pending = []
        elif kind in ("fence", "code_block"):
            lines = token.content.rstrip("\n").split("\n") if token.content else []
            if kind == "code_block":
                lines = ["    " + l for l in lines]
            for line in lines:
                newline()
                emit(_code_line(line))
    text = "".join(out)
    return StyledText(text, _to_utf16(text, spans))
