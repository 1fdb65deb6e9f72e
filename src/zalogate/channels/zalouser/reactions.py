"""Reactions: friendly names and emoji -> Zalo reaction icons, and message id pairs.

A Zalo reaction needs both ids of the message (``msgId`` and ``cliMsgId``). They travel as one
string ``"<msgId>:<cliMsgId>"`` (OpenClaw's ``MessageSidFull``); a single id is used for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zalogate.channels.zalouser.errors import ZalouserChannelError
from zalogate.channels.zalouser.outbound import thread_of
from zalogate.core.errors import DeliveryError
from zalogate.personal.api import PersonalApi
from zalogate.personal.errors import ConfigurationError, ZaloPersonalError
from zalogate.personal.reactions import REACTIONS, CustomReaction

if TYPE_CHECKING:
    from zalogate.channels.zalouser.connection import AccountConnection

__all__ = [
    "REACTION_ALIASES",
    "MessageIds",
    "format_message_sid",
    "is_builtin_icon",
    "parse_message_sid",
    "react",
    "resolve_message_ids",
    "resolve_reaction",
]

REACTION_ALIASES: dict[str, str] = {
    "like": "/-strong",
    "👍": "/-strong",
    ":+1:": "/-strong",
    "heart": "/-heart",
    "❤️": "/-heart",
    "❤": "/-heart",
    "<3": "/-heart",
    "haha": ":>",
    "laugh": ":>",
    "😂": ":>",
    "wow": ":o",
    "😮": ":o",
    "cry": ":-((",
    "😢": ":-((",
    "angry": ":-h",
    "😡": ":-h",
}
"""Aliases the ``react`` action accepts; anything else is passed through as an icon."""


def resolve_reaction(reaction: str) -> str:
    """The Zalo icon for ``reaction``: an alias, a built-in icon, or the text as given.

    An empty reaction is a like.
    """
    text = reaction.strip()
    if not text:
        return "/-strong"
    alias = REACTION_ALIASES.get(text) or REACTION_ALIASES.get(text.lower())
    return alias or text


def is_builtin_icon(icon: str) -> bool:
    """True when ``icon`` is one of Zalo's built-in reaction icons."""
    return icon in REACTIONS


@dataclass(frozen=True, slots=True)
class MessageIds:
    """Both ids of a Zalo message."""

    msg_id: str
    cli_msg_id: str


def parse_message_sid(value: str | None) -> MessageIds | None:
    """``"111:222"`` -> ids ``111``/``222``; anything without both parts -> None."""
    if not value or ":" not in value:
        return None
    msg_id, _, cli_msg_id = value.strip().partition(":")
    if not msg_id.strip() or not cli_msg_id.strip():
        return None
    return MessageIds(msg_id.strip(), cli_msg_id.strip())


def format_message_sid(ids: MessageIds) -> str:
    """``MessageIds("1", "2")`` -> ``"1:2"``."""
    return f"{ids.msg_id}:{ids.cli_msg_id}"


def resolve_message_ids(
    message_id: str | None = None,
    cli_msg_id: str | None = None,
    context_sid: str | None = None,
) -> MessageIds | None:
    """The ids to react to: explicit ids win, then a ``"a:b"`` context id, then one id for both.

    Returns None when nothing usable was given.
    """
    explicit_msg = (message_id or "").strip()
    explicit_cli = (cli_msg_id or "").strip()
    if explicit_msg and explicit_cli:
        return MessageIds(explicit_msg, explicit_cli)
    parsed = parse_message_sid(explicit_msg) or parse_message_sid(context_sid)
    if parsed is not None and not explicit_cli:
        return parsed
    single = explicit_msg or explicit_cli or (context_sid or "").strip()
    if single:
        return MessageIds(explicit_msg or single, explicit_cli or single)
    return None


async def react(
    connection: AccountConnection,
    target: str,
    message_id: str,
    reaction: str,
    *,
    remove: bool = False,
) -> None:
    """React to a message (``message_id`` is ``"<msgId>:<cliMsgId>"`` or one id).

    ``reaction`` may be an alias (``like``, ``heart``, ``haha``, ``wow``, ``cry``,
    ``angry``, their emoji) or a Zalo icon (``/-strong``); empty is a like.

    Raises:
        DeliveryError: No message id, or Zalo refused the reaction.
    """
    thread_id, thread_type = thread_of(target)
    ids = resolve_message_ids(message_id)
    if ids is None:
        raise DeliveryError("messageId required for react", retryable=False)
    icon = resolve_reaction(reaction)

    async def act(api: PersonalApi) -> Any:
        if remove:
            return await api.remove_reaction(
                thread_id=thread_id,
                msg_id=ids.msg_id,
                cli_msg_id=ids.cli_msg_id,
                thread_type=thread_type,
            )
        chosen: str | CustomReaction = icon
        try:
            return await api.add_reaction(
                chosen,
                thread_id=thread_id,
                msg_id=ids.msg_id,
                cli_msg_id=ids.cli_msg_id,
                thread_type=thread_type,
            )
        except ConfigurationError:
            # Not a built-in icon: pass it through as a custom one (rType -1).
            return await api.add_reaction(
                CustomReaction(r_type=-1, icon=icon),
                thread_id=thread_id,
                msg_id=ids.msg_id,
                cli_msg_id=ids.cli_msg_id,
                thread_type=thread_type,
            )

    try:
        await connection.call(act)
    except ZalouserChannelError as exc:
        raise DeliveryError(str(exc), retryable=True) from exc
    except ZaloPersonalError as exc:
        raise DeliveryError(str(exc), retryable=exc.retryable) from exc
