"""Session keys: which agent conversation an inbound message belongs to.

Shapes (agent id and main key lower-cased, default ``main``; peer ids lower-cased):

* DM, ``session.dmScope``:
  ``main`` → ``agent:<agent>:<mainKey>`` (every DM shares the agent's main session);
  ``per-peer`` → ``agent:<agent>:direct:<peer>``;
  ``per-channel-peer`` → ``agent:<agent>:<channel>:direct:<peer>``;
  ``per-account-channel-peer`` → ``agent:<agent>:<channel>:<account>:direct:<peer>``.
* Group: ``agent:<agent>:<channel>:group:<group>`` (``group_scope="main"`` folds groups into
  the main session).
* A channel whose traits set ``private_dm_sessions`` (zalouser) forces ``per-channel-peer`` for
  DMs when the scope is ``main`` (for an account other than ``default``,
  ``per-account-channel-peer``, so that one friend of two personal accounts talks to two
  separate sessions); one with a ``legacy_dm_session_key`` (zalouser's
  ``agent:<agent>:zalouser:group:<sender>``) reuses that DM session when only it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from zalogate.core.model import InboundMessage
from zalogate.core.traits import traits_for

__all__ = [
    "DM_SCOPES",
    "DmScope",
    "legacy_dm_key",
    "normalize_agent_id",
    "resolve_dm_scope",
    "resolve_identity",
    "session_key",
]

DmScope = Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"]
DM_SCOPES: tuple[str, ...] = ("main", "per-peer", "per-channel-peer", "per-account-channel-peer")


def normalize_agent_id(value: str | None, default: str = "main") -> str:
    """Agent ids and main keys are compared lower-case; blank means ``default``."""
    text = (value or "").strip().lower()
    return text or default


def resolve_dm_scope(channel: str, dm_scope: str | None, account_id: str | None = None) -> str:
    """The DM scope in effect.

    A channel with ``private_dm_sessions`` (zalouser) turns ``main`` (or unset) into
    ``per-channel-peer``, or into ``per-account-channel-peer`` for an account other than
    ``default``: a personal account's DMs are its own conversations, never shared with
    another account's.
    """
    scope = (dm_scope or "main").strip().lower()
    if scope not in DM_SCOPES:
        raise ValueError(f"unknown session.dmScope {dm_scope!r}; expected one of {DM_SCOPES}")
    if scope == "main" and traits_for(channel).private_dm_sessions:
        account = (account_id or "default").strip().lower() or "default"
        return "per-channel-peer" if account == "default" else "per-account-channel-peer"
    return scope


def resolve_identity(
    channel: str, peer_id: str, identity_links: Mapping[str, Sequence[str]] | None
) -> str:
    """Map a peer id to its canonical identity via ``session.identityLinks``.

    Linked ids may be written with or without the channel prefix (``zalouser:123`` or ``123``).
    """
    peer = peer_id.strip().lower()
    if not identity_links:
        return peer
    wanted = {peer, f"{channel.lower()}:{peer}"}
    for canonical, linked in identity_links.items():
        if any(str(entry).strip().lower() in wanted for entry in linked):
            return canonical.strip().lower()
    return peer


def legacy_dm_key(message: InboundMessage, *, agent_id: str = "main") -> str | None:
    """The DM session key an older release of ``message``'s channel used, if it had another.

    ``ChannelTraits.legacy_dm_session_key`` says; None for a group or a channel without one.
    """
    make = traits_for(message.channel.strip().lower()).legacy_dm_session_key
    if make is None or message.is_group:
        return None
    return make(message, normalize_agent_id(agent_id))


def session_key(
    message: InboundMessage,
    *,
    dm_scope: str = "main",
    agent_id: str = "main",
    main_key: str = "main",
    group_scope: str = "group",
    identity_links: Mapping[str, Sequence[str]] | None = None,
    session_exists: Callable[[str], bool] | None = None,
) -> str:
    """Build the session key for ``message``.

    Args:
        message: The inbound message.
        dm_scope: ``session.dmScope`` (default ``main``).
        agent_id: The agent that handles the message.
        main_key: The main session's name (``session.mainKey``).
        group_scope: ``main`` folds group chats into the main session.
        identity_links: ``session.identityLinks`` (used when the DM scope is not ``main``).
        session_exists: Tells whether a session key is already stored; enables the reuse of
            the channel's legacy DM key (see :func:`legacy_dm_key`).
    """
    agent = normalize_agent_id(agent_id)
    main = f"agent:{agent}:{normalize_agent_id(main_key)}"
    channel = message.channel.strip().lower()
    if message.is_group:
        if group_scope.strip().lower() == "main":
            return main
        return f"agent:{agent}:{channel}:group:{message.chat_id.strip().lower()}"
    scope = resolve_dm_scope(channel, dm_scope, message.account_id)
    if scope == "main":
        return main
    peer = resolve_identity(channel, message.sender_id, identity_links)
    if scope == "per-peer":
        key = f"agent:{agent}:direct:{peer}"
    elif scope == "per-channel-peer":
        key = f"agent:{agent}:{channel}:direct:{peer}"
    else:
        account = message.account_id.strip().lower() or "default"
        key = f"agent:{agent}:{channel}:{account}:direct:{peer}"
    if session_exists is not None and not session_exists(key):
        legacy = legacy_dm_key(message, agent_id=agent)
        if legacy is not None and session_exists(legacy):
            return legacy
    return key
