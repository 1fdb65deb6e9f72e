"""Text measured the way Zalo (and JavaScript) measures it: in UTF-16 code units.

A character outside the BMP (most emoji) counts two units, any other code point one. A lone
surrogate, which a Python ``str`` can hold but UTF-16 text cannot, counts one unit, as it does
in a JavaScript string. Cuts are made between Python code points, so they never split a
character; only `utf16_slice` follows a JavaScript index that may fall inside a pair.

This module sits below every other layer: the protocol clients, the core and the fakes all
import it.
"""

from __future__ import annotations

import re

__all__ = ["truncate_utf16", "utf16_end", "utf16_len", "utf16_offsets", "utf16_slice"]

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (JavaScript ``String.length``)."""
    if text.isascii():
        return len(text)
    # The codec counts in C; "surrogatepass" lets a lone surrogate through as one unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_end(text: str, start: int, budget: int) -> int:
    """The largest ``end`` such that ``text[start:end]`` fits in ``budget`` units."""
    used = 0
    end = start
    n = len(text)
    while end < n:
        used += _units(text[end])
        if used > budget:
            break
        end += 1
    return end


def truncate_utf16(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units (never half a pair)."""
    return text[: utf16_end(text, 0, limit)]


def utf16_offsets(text: str) -> list[int]:
    """``offsets[i]`` = UTF-16 units before code point ``i`` (``len(text) + 1`` entries)."""
    if _ASTRAL.search(text) is None:  # one unit per code point: no loop in Python
        return list(range(len(text) + 1))
    offsets = [0] * (len(text) + 1)
    units = 0
    for index, char in enumerate(text):
        offsets[index] = units
        units += _units(char)
    offsets[len(text)] = units
    return offsets


def utf16_slice(text: str, pos: int, length: int) -> str:
    """``text.substr(pos, length)`` as JavaScript counts (UTF-16 units).

    Half of a surrogate pair cut off by ``pos`` or ``length`` becomes U+FFFD, so the result
    can always be encoded.
    """
    if text.isascii():
        return text[pos : pos + length]
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * pos : 2 * (pos + length)].decode("utf-16-le", errors="replace")
