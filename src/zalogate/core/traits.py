"""What a channel declares about itself, so that no layer above it compares channel names.

A :class:`ChannelTraits` holds the per-channel facts that the core (targets, allowlists,
mention gating, session keys), the CLI (pairing labels, channel aliases) and the runtime read.
A channel plugin declares them (``ChannelPlugin(traits=...)``); :func:`traits_for` finds them
by channel id: registered ones first, then by loading the installed plugins' entry points,
else the generic traits every unknown channel gets (prefix ``<id>:``, the permissive target
grammar).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from zalogate.core.model import InboundMessage

__all__ = [
    "GENERIC_TARGET_KINDS",
    "ChannelTraits",
    "TargetKind",
    "known_traits",
    "register_traits",
    "traits_for",
]

log = logging.getLogger(__name__)

TargetKind = Literal["user", "group"]

GENERIC_TARGET_KINDS: Mapping[str, TargetKind] = MappingProxyType(
    {
        "user": "user",
        "channel": "user",
        "conversation": "user",
        "room": "user",
        "dm": "user",
        "u": "user",
        "group": "group",
        "g": "group",
    }
)
"""The kind markers a target may carry when its channel declares none of its own."""

LegacyDmKey = Callable[["InboundMessage", str], str]
"""``(message, agent id) -> session key`` an older release used for this DM."""


@dataclass(frozen=True, slots=True)
class ChannelTraits:
    """Per-channel facts that layers above the channel read instead of its name.

    Attributes:
        id: The channel id (``zalo``).
        prefixes: Provider prefixes (without the colon, lower-case) that name this channel in
            targets and allowlist entries (``zalo:123``, ``zl:123``); empty means ``(id,)``.
        target_kinds: Kind markers its targets accept (``group:``, ``g:``); None means
            :data:`GENERIC_TARGET_KINDS`.
        raw_id_markers: Bare ``g-…``/``u-…`` ids mark a group/user target.
        opaque_ids: Any value left after the prefixes is a chat id (never a display name to
            look up), as Bot API chat ids are.
        groups_need_mention: Zalo only delivers group messages that mention (or quote) the
            account, so every group is mention-gated whatever ``requireMention`` says.
        group_allow_from_falls_back: An unset or empty ``groupAllowFrom`` falls back to the
            DM ``allowFrom`` (the Bot API's behaviour); False: unset means no sender filter
            in groups (OpenClaw's zalouser after its PR 46663).
        private_dm_sessions: ``session.dmScope: main`` keeps each peer's DMs apart
            (``per-channel-peer``; ``per-account-channel-peer`` for a non-default account).
        legacy_dm_session_key: The DM session key an older release used; reused when only
            that session has a transcript.
        pairing_id_label: What ``pairing list`` calls a requester's id; default
            ``<id>UserId``.
        credentials_hint: Appended to "no account is configured" (``or set ZALO_BOT_TOKEN``).
        sends_need_session_owner: An account's sends must go out from the process that runs
            it (one live session per account); in cluster mode other nodes ask that node.
            False: any node can send with the account's credentials.
        shared_credentials: The account's credentials rotate (an OAuth pair whose refresh
            token works once): every process using them, one-off commands too, must share
            them (``ChannelContext.token_stores`` in cluster mode).
    """

    id: str
    prefixes: tuple[str, ...] = ()
    target_kinds: Mapping[str, TargetKind] | None = None
    raw_id_markers: bool = True
    opaque_ids: bool = False
    groups_need_mention: bool = False
    group_allow_from_falls_back: bool = True
    private_dm_sessions: bool = False
    legacy_dm_session_key: LegacyDmKey | None = field(default=None, compare=False)
    pairing_id_label: str = ""
    credentials_hint: str = ""
    sends_need_session_owner: bool = False
    shared_credentials: bool = False

    def __post_init__(self) -> None:
        prefixes = tuple(p.strip().lower() for p in self.prefixes if p.strip())
        object.__setattr__(self, "prefixes", prefixes or (self.id.lower(),))
        if not self.pairing_id_label:
            object.__setattr__(self, "pairing_id_label", f"{self.id}UserId")

    @property
    def kinds(self) -> Mapping[str, TargetKind]:
        """The target kind markers in effect."""
        return GENERIC_TARGET_KINDS if self.target_kinds is None else self.target_kinds

    @property
    def short_aliases(self) -> tuple[str, ...]:
        """The prefixes other than the id (``zl`` for ``zalo``): CLI aliases for the channel."""
        return tuple(p for p in self.prefixes if p != self.id)


_lock = threading.Lock()
_registry: dict[str, ChannelTraits] = {}
_generic: dict[str, ChannelTraits] = {}
_discovered = False


def register_traits(traits: ChannelTraits) -> ChannelTraits:
    """Make ``traits`` the ones :func:`traits_for` returns for its channel id."""
    with _lock:
        _registry[traits.id] = traits
    return traits


def _discover() -> None:
    """Register the traits of every installed plugin (once per process)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from importlib.metadata import entry_points

    from zalogate.core.channel import ENTRY_POINT_GROUP, ChannelPlugin

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _registry:
            continue
        try:
            plugin = entry.load()
        except Exception as exc:  # a broken plugin must not break target parsing
            log.debug("channel plugin %s did not load: %s", entry.name, exc)
            continue
        if isinstance(plugin, ChannelPlugin) and plugin.traits is not None:
            _registry.setdefault(plugin.id, plugin.traits)


def traits_for(channel_id: str) -> ChannelTraits:
    """The traits of ``channel_id``: registered, else an installed plugin's, else generic."""
    found = _registry.get(channel_id)
    if found is None:
        _discover()
        found = _registry.get(channel_id)
    if found is not None:
        return found
    # The generic traits are built once per id: session keys ask once per message.
    generic = _generic.get(channel_id)
    if generic is None:
        if len(_generic) >= 256:
            _generic.clear()
        generic = _generic[channel_id] = ChannelTraits(id=channel_id)
    return generic


def known_traits() -> tuple[ChannelTraits, ...]:
    """The traits of every registered or installed channel."""
    _discover()
    return tuple(_registry.values())
