"""Real Zalo mentions in group replies: ``@Name`` of a group member becomes a mention.

The agent (or its ``zalouser`` tool) writes ``@Alice`` in a group reply; Zalo notifies a member
only when the message carries a mention span (uid, UTF-16 position and length) for it. This
module finds ``@<display name>`` of the group's members in a chunk's final text (after the
Markdown conversion, so positions are right), longest names first, each followed by the end
of the text or a character that cannot continue a name.
"""

from __future__ import annotations

from collections.abc import Sequence

from zalogate.personal.spans import Mention
from zalogate.text import utf16_len

__all__ = ["find_mentions"]


def find_mentions(text: str, members: Sequence[tuple[str, str]]) -> tuple[Mention, ...]:
    """Mentions of ``members`` (``(display name, uid)``) written as ``@Name`` in ``text``."""
    if "@" not in text or not members:
        return ()
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Mention]] = []
    for name, uid in sorted(members, key=lambda m: -len(m[0])):
        needle = f"@{name}"
        start = text.find(needle) if name.strip() else -1
        while start >= 0:
            end = start + len(needle)
            free = all(end <= a or start >= b for a, b in taken)
            if free and (end == len(text) or not text[end].isalnum()):
                taken.append((start, end))
                pos = utf16_len(text[:start])
                found.append((start, Mention(uid=uid, pos=pos, length=utf16_len(needle))))
            start = text.find(needle, end)
    return tuple(m for _, m in sorted(found, key=lambda f: f[0]))
