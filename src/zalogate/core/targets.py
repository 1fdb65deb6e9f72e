"""Outbound target strings: parsing, canonical form and id sniffing.

A target names the chat a reply or a ``message send`` goes to. Every channel accepts a bare
chat id, an optional provider prefix (one of the channel's ``ChannelTraits.prefixes``, such as
``zalo:``/``zl:``) and a kind prefix from its grammar (``ChannelTraits.target_kinds``: e.g.
``group:``/``g:`` for groups, ``user:``/``dm:`` for users). Where the channel's traits say so
(``raw_id_markers``), a bare ``g-…`` is a group and a bare ``u-…`` a user. Any other value is
a user chat id: groups need an explicit marker.

A provider prefix must match the channel the target is used with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zalogate.core.traits import GENERIC_TARGET_KINDS, TargetKind, known_traits, traits_for

__all__ = [
    "Target",
    "TargetError",
    "TargetKind",
    "looks_like_id",
    "normalize_target",
    "parse_target",
    "split_provider_prefix",
]

_PROVIDER_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:", re.ASCII)
_KIND_RE = re.compile(r"^([A-Za-z]+)\s*:", re.ASCII)
_NUMERIC = re.compile(r"^\d+$", re.ASCII)


def _channel_of_prefix(prefix: str) -> str | None:
    """The channel whose provider prefixes include ``prefix`` (lower-case), if any."""
    for traits in known_traits():
        if prefix in traits.prefixes:
            return traits.id
    return None


class TargetError(ValueError):
    """A target string could not be parsed (empty, or a provider prefix for another channel)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed outbound target.

    Attributes:
        channel: The channel the target belongs to (from the prefix or the caller), if known.
        kind: ``user`` for a one-to-one chat, ``group`` for a group chat.
        id: The chat id with every prefix removed (``g-``/``u-`` raw ids are kept whole).
        explicit: True when the raw string carried a kind marker (``user:``, ``g:``, ``g-…``).
    """

    channel: str | None
    kind: TargetKind
    id: str
    explicit: bool = field(default=False, compare=False)

    @property
    def is_group(self) -> bool:
        """True for group targets."""
        return self.kind == "group"

    @property
    def canonical(self) -> str:
        """The canonical string: ``group:<id>``, ``user:<id>`` when marked, else the bare id."""
        if self.kind == "group":
            return f"group:{self.id}"
        return f"user:{self.id}" if self.explicit else self.id

    def address(self, channel: str | None = None) -> str:
        """The envelope address (``zalouser:group:<id>`` or ``zalouser:<id>``)."""
        name = channel or self.channel
        if name is None:
            raise TargetError("the target has no channel")
        return f"{name}:group:{self.id}" if self.kind == "group" else f"{name}:{self.id}"

    def __str__(self) -> str:
        return self.canonical


def split_provider_prefix(raw: str) -> tuple[str | None, str]:
    """Split a known provider prefix off ``raw``.

    Returns:
        ``(channel, rest)`` where ``channel`` is the channel id when ``raw`` started with one
        of a known channel's provider prefixes (case-insensitive), else ``(None, raw.strip())``.
    """
    text = raw.strip()
    match = _PROVIDER_RE.match(text)
    if match:
        channel = _channel_of_prefix(match.group(1).lower())
        if channel is not None:
            return channel, text[match.end() :].strip()
    return None, text


def parse_target(raw: str, channel: str | None = None) -> Target:
    """Parse a target string for ``channel`` (or for whichever channel its prefix names).

    Args:
        raw: ``123``, ``zalo:123``, ``zlu:group:456``, ``g-789``, ...
        channel: The channel the target will be used with; a provider prefix must match it.

    Raises:
        TargetError: Empty target (``No chat_id provided``) or a mismatched provider prefix.
    """
    prefixed, rest = split_provider_prefix(str(raw))
    if prefixed is not None and channel is not None and prefixed != channel:
        raise TargetError(
            f"Target prefix {prefixed!r} does not match channel {channel!r}: {raw.strip()!r}"
        )
    effective = channel or prefixed
    traits = traits_for(effective) if effective is not None else None
    kinds = traits.kinds if traits is not None else GENERIC_TARGET_KINDS
    kind: TargetKind = "user"
    explicit = False
    match = _KIND_RE.match(rest)
    if match and match.group(1).lower() in kinds:
        kind = kinds[match.group(1).lower()]
        explicit = True
        rest = rest[match.end() :].strip()
    elif traits is None or traits.raw_id_markers:
        lowered = rest.lower()
        if lowered.startswith("g-") and len(rest) > 2:
            kind, explicit = "group", True
        elif lowered.startswith("u-") and len(rest) > 2:
            kind, explicit = "user", True
    if not rest:
        raise TargetError("No chat_id provided")
    return Target(channel=effective, kind=kind, id=rest, explicit=explicit)


def normalize_target(raw: str, channel: str | None = None) -> str:
    """Return the canonical form of a target (``zlu:g:30003`` → ``group:30003``).

    Raises:
        TargetError: As :func:`parse_target`.
    """
    return parse_target(raw, channel).canonical


def looks_like_id(raw: str, channel: str | None = None) -> bool:
    """Guess whether ``raw`` is a chat id rather than a display name to look up.

    For a channel with opaque ids (``ChannelTraits.opaque_ids``, the Bot API) any non-empty
    value after the prefixes counts. Otherwise a kind-marked target, a ``g-``/``u-`` id or a
    numeric id counts; ``"Alice Nguyen"`` does not.
    """
    try:
        target = parse_target(raw, channel)
    except TargetError:
        return False
    if target.channel is not None and traits_for(target.channel).opaque_ids:
        return True
    if any(ch.isspace() for ch in target.id):
        return False
    return target.explicit or bool(_NUMERIC.match(target.id))
