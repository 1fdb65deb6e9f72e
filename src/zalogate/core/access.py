"""Who may talk to the bot: DM policy, group policy, group routes and command authorisation.

Everything here is a pure function of an :class:`AccountPolicy` (the channel-agnostic view of
one account's access config) and the facts of one message. Each decision carries a reason code
for logs and diagnostics. Allowlists are frozensets of normalised entries, so every check is a
set lookup whatever the list size.

Decision order for a group message (the pipeline calls these in turn):
``decide_group`` (group policy → route ``groups`` entry → sender ``groupAllowFrom``) →
mention gate (``core.history.mention_gate``) → ``authorize_command`` for control commands.
For a DM: ``decide_dm`` (the pairing store counts only under ``pairing``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from zalogate.core.traits import traits_for

__all__ = [
    "EMPTY_OVERLAY",
    "LISTS",
    "WILDCARD",
    "AccessDecision",
    "AccessOverlay",
    "AccountPolicy",
    "DmPolicy",
    "GroupDecision",
    "GroupPolicy",
    "GroupRule",
    "OverlayEntry",
    "OverlayList",
    "apply_overlay",
    "authorize_command",
    "command_body",
    "decide_dm",
    "decide_group",
    "effective_group_allow_from",
    "effective_group_policy",
    "group_rule_candidates",
    "group_slug",
    "is_control_command",
    "match_key",
    "mentioned_by_pattern",
    "normalize_allow_entry",
    "normalize_allow_list",
    "normalize_mention_text",
    "policy_from_settings",
]

log = logging.getLogger(__name__)

OverlayList = Literal["allowFrom", "groupAllowFrom", "groups"]
LISTS: tuple[OverlayList, ...] = get_args(OverlayList)

DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["open", "allowlist", "disabled"]
ChunkMode = Literal["length", "newline"]

WILDCARD = "*"


def match_key(value: str) -> str:
    """The comparison key for ids and names: trimmed and case-folded."""
    return value.strip().casefold()


@dataclass(frozen=True, slots=True)
class GroupRule:
    """One ``groups.<key>`` entry of a channel account.

    ``enabled`` is None when unset (the legacy ``allow`` key is its alias and is folded in by
    the config layer); ``require_mention`` None means "not a boolean here" (then the default,
    true, applies).
    """

    enabled: bool | None = None
    require_mention: bool | None = None
    tools_allow: tuple[str, ...] | None = None
    tools_deny: tuple[str, ...] | None = None

    @classmethod
    def from_config(
        cls,
        *,
        enabled: bool | None = None,
        allow: bool | None = None,
        require_mention: bool | None = None,
        tools_allow: Iterable[str] | None = None,
        tools_deny: Iterable[str] | None = None,
    ) -> GroupRule:
        """Build a rule from config values, folding the legacy ``allow`` into ``enabled``.

        The group is admitted only when neither key is ``false``.
        """
        flags = [flag for flag in (enabled, allow) if flag is not None]
        return cls(
            enabled=None if not flags else all(flags),
            require_mention=require_mention,
            tools_allow=None if tools_allow is None else tuple(tools_allow),
            tools_deny=None if tools_deny is None else tuple(tools_deny),
        )

    @property
    def admits(self) -> bool:
        """False only when the entry is explicitly disabled."""
        return self.enabled is not False


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """The access and delivery settings of one channel account, as the core reads them.

    Attributes:
        channel: The channel id (its :class:`~zalogate.core.traits.ChannelTraits` apply).
        dm_policy: ``pairing`` (default), ``allowlist``, ``open`` or ``disabled``.
        allow_from: Normalised DM allowlist (see :func:`normalize_allow_list`); may hold ``*``.
        group_policy: The account's ``groupPolicy``; None falls back to
            ``defaults_group_policy`` and then to ``open``.
        defaults_group_policy: ``channels.defaults.groupPolicy``.
        group_allow_from: Normalised ``groupAllowFrom``; None or empty falls back to
            ``allow_from`` where the channel's traits say so (see
            :func:`effective_group_allow_from`); ``*`` admits every member.
        groups: ``groups.<key>`` entries; keys are ids, ``group:<id>``, ``*`` or group names.
        group_name_ids: Group names (any case) resolved to ids at startup; a ``groups`` key
            that is such a name then matches that id.
        dangerously_allow_name_matching: Also match (spoofable) display names at run time.
        command_allow_from: ``commands.allowFrom``; when set it alone authorises commands.
        quoted_bot_counts: Quoting one of the bot's messages counts as a mention
            (``channels.defaults.implicitMentions.quotedBot``, default true).
    """

    channel: str
    dm_policy: DmPolicy = "pairing"
    allow_from: frozenset[str] = frozenset()
    group_policy: GroupPolicy | None = None
    defaults_group_policy: GroupPolicy | None = None
    group_allow_from: frozenset[str] | None = None
    groups: Mapping[str, GroupRule] = field(default_factory=dict)
    group_name_ids: Mapping[str, str] = field(default_factory=dict)
    dangerously_allow_name_matching: bool = False
    history_limit: int = 50
    mention_patterns: tuple[str, ...] = ()
    response_prefix: str | None = None
    message_prefix: str | None = None
    text_chunk_limit: int = 2000
    chunk_mode: ChunkMode = "length"
    command_allow_from: frozenset[str] | None = None
    quoted_bot_counts: bool = True
    max_in_flight: int | None = None
    """The account's ``maxInFlight`` (None: ``messages.delivery.maxInFlight``)."""
    _group_index: Mapping[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _resolved_group_keys: Mapping[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Index the groups keys once so that every lookup is a dict hit.
        index: dict[str, str] = {}
        for key in self.groups:
            index.setdefault(match_key(key), key)
        resolved: dict[str, str] = {}
        names = {match_key(name): group_id for name, group_id in self.group_name_ids.items()}
        for key in self.groups:
            group_id = names.get(match_key(key))
            if group_id is not None:
                resolved.setdefault(match_key(group_id), key)
        object.__setattr__(self, "_group_index", index)
        object.__setattr__(self, "_resolved_group_keys", resolved)

    def group_rule_key(self, candidate: str) -> str | None:
        """The configured ``groups`` key matching ``candidate`` (case-insensitive), if any."""
        return self._group_index.get(match_key(candidate))

    def resolved_group_key(self, group_id: str) -> str | None:
        """The ``groups`` key that is a name resolved to ``group_id`` at startup, if any."""
        return self._resolved_group_keys.get(match_key(group_id))


def normalize_allow_entry(channel: str, raw: str | int) -> str:
    """Normalise one ``allowFrom``-style entry for set lookups.

    Trims, strips one of the channel's provider prefixes (``ChannelTraits.prefixes`` with a
    colon: ``zalo:``/``zl:``; ``<channel>:`` for a channel that declares none;
    case-insensitive), trims again and case-folds.
    ``*`` stays the wildcard.
    """
    text = str(raw).strip()
    if text == WILDCARD:
        return WILDCARD
    lowered = text.lower()
    for prefix in traits_for(channel).prefixes:
        if lowered.startswith(prefix) and lowered[len(prefix) : len(prefix) + 1] == ":":
            text = text[len(prefix) + 1 :]
            break
    return match_key(text)


def normalize_allow_list(channel: str, entries: Iterable[str | int]) -> frozenset[str]:
    """Normalise a whole list; empty entries are dropped."""
    normalised = (normalize_allow_entry(channel, entry) for entry in entries)
    return frozenset(entry for entry in normalised if entry)


def _sender_in(
    entries: frozenset[str], sender_id: str, sender_name: str | None, by_name: bool
) -> bool:
    if WILDCARD in entries or match_key(sender_id) in entries:
        return True
    return by_name and bool(sender_name) and match_key(sender_name or "") in entries


# --------------------------------------------------------------------------- DMs


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The outcome of :func:`decide_dm`.

    ``action`` is ``process`` (hand to the agent), ``challenge`` (issue a pairing code, do not
    process) or ``drop`` (ignore silently).
    """

    allowed: bool
    reason: str
    action: Literal["process", "challenge", "drop"]


def decide_dm(
    policy: AccountPolicy,
    sender_id: str,
    *,
    sender_name: str | None = None,
    store_allowed: frozenset[str] = frozenset(),
) -> AccessDecision:
    """Decide a direct message.

    Args:
        policy: The account's policy.
        sender_id: The sender's id (any case, unprefixed).
        sender_name: The sender's display name; matched only with dangerous name matching.
        store_allowed: Senders approved through pairing (normalised); used only under
            ``pairing``.
    """
    if policy.dm_policy == "disabled":
        return AccessDecision(False, "dm_policy_disabled", "drop")
    by_name = policy.dangerously_allow_name_matching
    if policy.dm_policy == "open" and WILDCARD in policy.allow_from:
        return AccessDecision(True, "dm_policy_open", "process")
    if _sender_in(policy.allow_from, sender_id, sender_name, by_name):
        return AccessDecision(True, "dm_policy_allowlisted", "process")
    if policy.dm_policy == "pairing":
        if match_key(sender_id) in store_allowed:
            return AccessDecision(True, "dm_policy_allowlisted", "process")
        return AccessDecision(False, "dm_policy_pairing_required", "challenge")
    return AccessDecision(False, "dm_policy_not_allowlisted", "drop")


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class GroupDecision:
    """The outcome of :func:`decide_group`.

    ``require_mention`` comes from the matching ``groups`` entry (default true); ``rule_key``
    is that entry's key, or None when no entry matched.
    """

    allowed: bool
    reason: str
    require_mention: bool
    rule_key: str | None


def effective_group_policy(policy: AccountPolicy) -> GroupPolicy:
    """``groupPolicy`` → ``channels.defaults.groupPolicy`` → ``open``."""
    return policy.group_policy or policy.defaults_group_policy or "open"


def effective_group_allow_from(policy: AccountPolicy) -> frozenset[str]:
    """``groupAllowFrom``; when it is unset or empty, ``allowFrom`` if the channel's traits
    say so (``group_allow_from_falls_back``), else no sender filter (empty)."""
    if policy.group_allow_from or not traits_for(policy.channel).group_allow_from_falls_back:
        return policy.group_allow_from or frozenset()
    return policy.allow_from


def group_slug(name: str) -> str:
    """A group name as a slug: lower-case, leading ``#`` removed, non-alphanumerics → ``-``."""
    text = name.strip().lower().lstrip("#")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def group_rule_candidates(
    group_id: str,
    *,
    group_name: str | None = None,
    group_channel: str | None = None,
    allow_name_matching: bool = False,
) -> list[str]:
    """The ``groups`` keys tried for a group, in precedence order (the first existing wins)."""
    candidates = [group_id, f"group:{group_id}"]
    if allow_name_matching:
        for name in (group_channel, group_name):
            if name:
                candidates.append(name)
        if group_name and group_slug(group_name):
            candidates.append(group_slug(group_name))
    candidates.append(WILDCARD)
    return list(dict.fromkeys(candidates))


def _match_group_rule(
    policy: AccountPolicy, group_id: str, group_name: str | None
) -> tuple[str, GroupRule] | None:
    by_name = policy.dangerously_allow_name_matching
    for key in (group_id, f"group:{group_id}"):
        found = policy.group_rule_key(key)
        if found is not None:
            return found, policy.groups[found]
    resolved = policy.resolved_group_key(group_id)
    if resolved is not None:
        return resolved, policy.groups[resolved]
    if by_name and group_name:
        for key in (group_name, group_slug(group_name)):
            found = policy.group_rule_key(key) if key else None
            if found is not None:
                return found, policy.groups[found]
    if WILDCARD in policy.groups:
        return WILDCARD, policy.groups[WILDCARD]
    return None


def decide_group(
    policy: AccountPolicy,
    group_id: str,
    sender_id: str,
    *,
    group_name: str | None = None,
    sender_name: str | None = None,
) -> GroupDecision:
    """Decide whether a group message may be processed (before mention gating).

    Order: ``disabled`` drops; a matching ``groups`` entry with ``enabled: false`` drops
    (``route_disabled``, even under ``open``); ``open`` admits every group and member;
    ``allowlist`` needs a configured list: when ``groups`` has keys the group must match one
    (``route_not_allowlisted``), and when a sender list (``groupAllowFrom``, or its fallback
    ``allowFrom`` in channels that keep it) is set the sender must be in it
    (``group_policy_not_allowlisted``); with neither list everything is blocked
    (``group_policy_empty_allowlist``).
    """
    matched = _match_group_rule(policy, group_id, group_name)
    rule_key, rule = matched if matched is not None else (None, None)
    require_mention = True
    if rule is not None and rule.require_mention is not None:
        require_mention = rule.require_mention
    if traits_for(policy.channel).groups_need_mention:
        # Zalo only delivers this channel's group messages when they mention or quote the bot.
        require_mention = True

    def verdict(allowed: bool, reason: str) -> GroupDecision:
        return GroupDecision(allowed, reason, require_mention, rule_key)

    mode = effective_group_policy(policy)
    if mode == "disabled":
        return verdict(False, "group_policy_disabled")
    if rule is not None and not rule.admits:
        return verdict(False, "route_disabled")
    if mode == "open":
        return verdict(True, "group_policy_allowed")
    senders = effective_group_allow_from(policy)
    if not policy.groups and not senders:
        return verdict(False, "group_policy_empty_allowlist")
    if policy.groups and rule is None:
        return verdict(False, "route_not_allowlisted")
    by_name = policy.dangerously_allow_name_matching
    if senders and not _sender_in(senders, sender_id, sender_name, by_name):
        return verdict(False, "group_policy_not_allowlisted")
    return verdict(True, "group_policy_allowed")


# --------------------------------------------------------------------------- commands

_COMMAND = re.compile(r"^/[A-Za-z][A-Za-z0-9_-]*(?:\s|$)")


def is_control_command(text: str) -> bool:
    """True when ``text`` is a standalone control command such as ``/new`` or ``/status x``."""
    return bool(_COMMAND.match(text.strip()))


# "@Bot /new": a leading mention word in front of a command (or "!") prefix.
_LEADING_MENTION = re.compile(r"^\s*@\S+\s+(?=[/!])")


def command_body(text: str, *, command_text: str | None = None, has_mention: bool = False) -> str:
    """The text that command parsing sees.

    ``command_text`` (the channel cut the bot's own mention spans out) wins. Otherwise, when
    the message carries a mention, one leading ``@word`` before a ``/`` or ``!`` is stripped
    (``@Bot /new`` → ``/new``), as zalouser does when it cannot locate its own mention.
    """
    if command_text is not None:
        return " ".join(command_text.split())
    if has_mention:
        return _LEADING_MENTION.sub("", text, count=1).strip()
    return text.strip()


def authorize_command(
    policy: AccountPolicy,
    message_is_group: bool,
    sender_id: str,
    *,
    store_allowed: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``sender_id`` may run control commands.

    ``commands.allowFrom``, when set, is the only source. Otherwise, in groups only configured
    lists count (``allowFrom`` and ``groupAllowFrom``, falling back to ``allowFrom``); with none
    configured, commands are refused (fail closed). Pairing approvals never authorise group
    commands; in DMs they do under ``pairing``.
    """
    key = match_key(sender_id)
    if policy.command_allow_from is not None:
        return WILDCARD in policy.command_allow_from or key in policy.command_allow_from
    authorizers: list[frozenset[str]] = [policy.allow_from]
    if message_is_group:
        authorizers.append(effective_group_allow_from(policy))
    elif policy.dm_policy == "pairing":
        authorizers.append(store_allowed)
    return any(WILDCARD in entries or key in entries for entries in authorizers if entries)


# --------------------------------------------------------------------------- mention patterns

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# A group that is itself repeated and contains a repetition: catastrophic backtracking risk.
_NESTED_REPETITION = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def normalize_mention_text(text: str) -> str:
    """Text as mention patterns see it: zero-width and bidi marks removed, lower-cased."""
    return _INVISIBLE.sub("", text).lower()


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    if _NESTED_REPETITION.search(pattern):
        log.warning("ignoring unsafe mention pattern (nested repetition): %r", pattern)
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        log.warning("ignoring invalid mention pattern %r: %s", pattern, exc)
        return None


def mentioned_by_pattern(text: str, patterns: Sequence[str]) -> bool:
    """True when any valid, safe pattern matches the normalised text (case-insensitive)."""
    if not patterns:
        return False
    normalised = normalize_mention_text(text)
    for pattern in patterns:
        compiled = _compile(pattern)
        if compiled is not None and compiled.search(normalised):
            return True
    return False


# --------------------------------------------------------------------------- console edits


@dataclass(frozen=True, slots=True)
class OverlayEntry:
    """One console edit: ``entry`` added to (``blocked`` False) or hidden from the ``kind`` list."""

    kind: OverlayList
    entry: str
    blocked: bool = False
    added_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class AccessOverlay:
    """The console edits of one account's allowlists."""

    entries: tuple[OverlayEntry, ...] = ()

    def added(self, name: OverlayList) -> frozenset[str]:
        """Entries the console added to ``name``."""
        return frozenset(e.entry for e in self.entries if e.kind == name and not e.blocked)

    def blocked(self, name: OverlayList) -> frozenset[str]:
        """Config entries of ``name`` the console removed (compared with ``match_key``)."""
        return frozenset(match_key(e.entry) for e in self.entries if e.kind == name and e.blocked)


EMPTY_OVERLAY = AccessOverlay()


def apply_overlay(policy: AccountPolicy, overlay: AccessOverlay) -> AccountPolicy:
    """``policy`` with the overlay's blocked entries removed and added entries added."""
    if not overlay.entries:
        return policy
    allow_from = (policy.allow_from - overlay.blocked("allowFrom")) | overlay.added("allowFrom")
    group_allow_from = policy.group_allow_from
    added = overlay.added("groupAllowFrom")
    if group_allow_from is not None or added:
        group_allow_from = (group_allow_from or frozenset()) - overlay.blocked("groupAllowFrom")
        group_allow_from |= added
    hidden = overlay.blocked("groups")
    groups = {k: rule for k, rule in policy.groups.items() if match_key(k) not in hidden}
    for key in sorted(overlay.added("groups")):
        if policy.group_rule_key(key) is None:
            groups[key] = GroupRule()
    return dataclasses.replace(
        policy, allow_from=allow_from, group_allow_from=group_allow_from, groups=groups
    )


# --------------------------------------------------------------------------- from config

_DM_POLICIES = ("pairing", "allowlist", "open", "disabled")
_GROUP_POLICIES = ("open", "allowlist", "disabled")


def _setting(source: Any, camel: str, snake: str) -> Any:
    """Read a setting from a mapping (OpenClaw camelCase keys) or a model (snake_case)."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        value = source.get(camel)
        return source.get(snake) if value is None else value
    value = getattr(source, snake, None)
    return getattr(source, camel, None) if value is None else value


def _entries(value: Any) -> list[str | int]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [value]
    return [entry for entry in value if isinstance(entry, str | int)]


def _rule_from_settings(raw: Any) -> GroupRule:
    tools = _setting(raw, "tools", "tools")
    allow_tools = _setting(tools, "allow", "allow")
    deny_tools = _setting(tools, "deny", "deny")
    return GroupRule.from_config(
        enabled=_setting(raw, "enabled", "enabled"),
        allow=_setting(raw, "allow", "allow"),
        require_mention=_setting(raw, "requireMention", "require_mention"),
        tools_allow=None if allow_tools is None else [str(t) for t in allow_tools],
        tools_deny=None if deny_tools is None else [str(t) for t in deny_tools],
    )


def policy_from_settings(
    channel: str,
    settings: Any,
    *,
    defaults_group_policy: GroupPolicy | None = None,
    group_name_ids: Mapping[str, str] | None = None,
    mention_patterns: Sequence[str] = (),
    history_limit: int | None = None,
    response_prefix: str | None = None,
    text_chunk_limit: int = 2000,
    quoted_bot_counts: bool = True,
    command_allow_from: Iterable[str | int] | None = None,
    overlay: AccessOverlay = EMPTY_OVERLAY,
) -> AccountPolicy:
    """Build an :class:`AccountPolicy` from one account's merged channel settings.

    ``settings`` is a mapping with OpenClaw's camelCase keys (``dmPolicy``, ``allowFrom``,
    ``groupPolicy``, ``groupAllowFrom``, ``groups``, ``dangerouslyAllowNameMatching``,
    ``historyLimit``, ``responsePrefix``, ``messagePrefix``, ``textChunkLimit``,
    ``chunkMode`` or ``streaming.chunkMode``, ``maxInFlight``) or a config model with the
    snake_case names.

    Args:
        channel: The channel id.
        settings: The account's merged settings.
        defaults_group_policy: ``channels.defaults.groupPolicy``.
        group_name_ids: Group names resolved to ids at startup.
        mention_patterns: The agent's mention patterns.
        history_limit: Fallback when the account sets no ``historyLimit``
            (``messages.groupChat.historyLimit``, else 50).
        response_prefix: Fallback when the account sets no ``responsePrefix``
            (``messages.responsePrefix``); ``""`` at any level disables the prefix.
        text_chunk_limit: Fallback when the account sets no ``textChunkLimit``.
        quoted_bot_counts: ``channels.defaults.implicitMentions.quotedBot``.
        command_allow_from: ``commands.allowFrom`` for this channel (None: unset).
        overlay: The console's edits of the account's lists (:func:`apply_overlay`).
    """
    dm_policy = _setting(settings, "dmPolicy", "dm_policy") or "pairing"
    if dm_policy not in _DM_POLICIES:
        raise ValueError(f"{channel}: unknown dmPolicy {dm_policy!r}")
    group_policy = _setting(settings, "groupPolicy", "group_policy")
    if group_policy is not None and group_policy not in _GROUP_POLICIES:
        raise ValueError(f"{channel}: unknown groupPolicy {group_policy!r}")
    group_allow = _setting(settings, "groupAllowFrom", "group_allow_from")
    groups_raw = _setting(settings, "groups", "groups") or {}
    groups = {str(key): _rule_from_settings(value) for key, value in dict(groups_raw).items()}
    limit = _setting(settings, "historyLimit", "history_limit")
    if limit is None:
        limit = 50 if history_limit is None else history_limit
    own_prefix = _setting(settings, "responsePrefix", "response_prefix")
    chunk_limit = _setting(settings, "textChunkLimit", "text_chunk_limit") or text_chunk_limit
    streaming = _setting(settings, "streaming", "streaming")
    chunk_mode = (
        _setting(streaming, "chunkMode", "chunk_mode")
        or _setting(settings, "chunkMode", "chunk_mode")
        or "length"
    )
    if chunk_mode not in ("length", "newline"):
        raise ValueError(f"{channel}: unknown chunkMode {chunk_mode!r}")
    policy = AccountPolicy(
        channel=channel,
        dm_policy=cast(DmPolicy, dm_policy),
        allow_from=normalize_allow_list(
            channel, _entries(_setting(settings, "allowFrom", "allow_from"))
        ),
        group_policy=cast("GroupPolicy | None", group_policy),
        defaults_group_policy=defaults_group_policy,
        group_allow_from=(
            None if group_allow is None else normalize_allow_list(channel, _entries(group_allow))
        ),
        groups=groups,
        group_name_ids=dict(group_name_ids or {}),
        dangerously_allow_name_matching=bool(
            _setting(settings, "dangerouslyAllowNameMatching", "dangerously_allow_name_matching")
        ),
        history_limit=max(0, int(limit)),
        mention_patterns=tuple(mention_patterns),
        response_prefix=response_prefix if own_prefix is None else own_prefix,
        message_prefix=_setting(settings, "messagePrefix", "message_prefix"),
        text_chunk_limit=int(chunk_limit),
        chunk_mode=cast(ChunkMode, chunk_mode),
        command_allow_from=(
            None
            if command_allow_from is None
            else normalize_allow_list(channel, _entries(command_allow_from))
        ),
        quoted_bot_counts=quoted_bot_counts,
        max_in_flight=_setting(settings, "maxInFlight", "max_in_flight"),
    )
    return apply_overlay(policy, overlay)
