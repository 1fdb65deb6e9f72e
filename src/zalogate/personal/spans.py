"""Ranges of a message's text: mentions and styles.

Positions and lengths are JavaScript string indices (UTF-16 code units), as Zalo sends and
expects them; `Mention.of` and `TextStyle.of` compute them from Python strings. The same
`Mention` describes a mention the listener received and one `PersonalApi.send_text` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from zalogate.personal.errors import ConfigurationError
from zalogate.text import utf16_len, utf16_slice

__all__ = ["Mention", "Style", "TextStyle"]


def _utf16_span(text: str, part: str, start: int, what: str) -> tuple[int, int]:
    """UTF-16 offset and length of the first ``part`` in ``text`` from ``start``."""
    at = text.find(part, start)
    if at < 0:
        raise ConfigurationError(f"{what} {part!r} is not in the message")
    return utf16_len(text[:at]), utf16_len(part)


class Style:
    """Text style codes for `TextStyle.style`."""

    BOLD: Final = "b"
    ITALIC: Final = "i"
    UNDERLINE: Final = "u"
    STRIKE: Final = "s"
    RED: Final = "c_db342e"
    ORANGE: Final = "c_f27806"
    YELLOW: Final = "c_f7b503"
    GREEN: Final = "c_15a85f"
    SMALL: Final = "f_13"
    BIG: Final = "f_18"
    BULLET_LIST: Final = "lst_1"
    NUMBERED_LIST: Final = "lst_2"

    @staticmethod
    def indent(size: int = 1) -> str:
        """Indentation code (``ind_10`` for one level, ``ind_20`` for two, ...)."""
        return f"ind_{size}0"


@dataclass(frozen=True, slots=True)
class Mention:
    """An ``@`` mention in a group message; ``pos``/``length`` in UTF-16 units.

    ``uid == "-1"`` (received with ``type`` 1) mentions everyone (@all).
    """

    uid: str
    pos: int
    length: int
    type: int = 0

    @classmethod
    def of(cls, text: str, needle: str, uid: str, *, start: int = 0) -> Mention:
        """The mention of ``needle`` (e.g. ``"@Alice"``) found in ``text`` from ``start``.

        Raises:
            ConfigurationError: ``needle`` does not occur in ``text``.
        """
        pos, length = _utf16_span(text, needle, start, "mention text")
        return cls(uid=uid, pos=pos, length=length)

    @property
    def is_all(self) -> bool:
        """An ``@All`` mention (``type`` 1, uid ``"-1"``)."""
        return self.type == 1 or self.uid == "-1"

    def text_in(self, text: str) -> str:
        """The mentioned span of ``text`` (e.g. ``"@Bot"``)."""
        return utf16_slice(text, self.pos, self.length)


@dataclass(frozen=True, slots=True)
class TextStyle:
    """A styled range of a message; ``start``/``length`` in UTF-16 units."""

    start: int
    length: int
    style: str

    @classmethod
    def of(cls, text: str, part: str, style: str, *, start: int = 0) -> TextStyle:
        """The style ``style`` applied to the first ``part`` found in ``text``.

        Raises:
            ConfigurationError: ``part`` does not occur in ``text``.
        """
        at, length = _utf16_span(text, part, start, "styled text")
        return cls(start=at, length=length, style=style)
