"""Reactions: the built-in icons Zalo knows and `CustomReaction` for any other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["REACTIONS", "REACTION_SOURCE", "CustomReaction"]

#: Built-in reaction icons and their ``rType`` (``source`` is 6 for all of them).
REACTIONS: Final[Mapping[str, int]] = {
    ":>": 0,
    "--b": 1,
    ":-((": 2,
    "/-strong": 3,
    "/-weak": 4,
    "/-heart": 5,
    ":')": 7,
    ":-*": 8,
    ":((": 16,
    ":-h": 20,
    "x-)": 21,
    "8-)": 22,
    ";-d": 23,
    "b-)": 26,
    ";xx": 29,
    ":--|": 30,
    ":o": 32,
    "p-(": 35,
    ":-bye": 36,
    "|-)": 38,
    ":wipe": 39,
    ":-dig": 42,
    "&-(": 44,
    ";-)": 45,
    ":handclap": 46,
    ">-|": 47,
    ":-f": 48,
    ":-l": 49,
    ":-r": 50,
    ";-/": 51,
    ";-x": 52,
    ":-o": 53,
    ";-s": 54,
    ";-a": 60,
    ":-<": 61,
    ":))": 62,
    "$-)": 63,
    "/-break": 65,
    "/-shit": 66,
    "/-li": 67,
    "/-ok": 68,
    "/-v": 69,
    "/-thanks": 70,
    "/-punch": 71,
    "/-share": 72,
    "_()_": 73,
    "/-beer": 99,
    "/-rose": 120,
    "/-fade": 121,
    "/-bd": 126,
    "/-bome": 127,
    "/-no": 131,
    "/-bad": 132,
    "/-loveu": 133,
}

#: ``source`` of every built-in reaction.
REACTION_SOURCE: Final = 6


@dataclass(frozen=True, slots=True)
class CustomReaction:
    """A reaction not in `REACTIONS`."""

    r_type: int
    icon: str
    source: int = REACTION_SOURCE
