"""What a personal account does with the listener's non-message events.

* Friend requests, by ``friendRequests``: ``ignore`` (default: they wait for the owner on the
  phone), ``accept`` (every request), or ``pairing`` (only people the DM policy already
  admits: ``allowFrom`` entries, ``"*"``, or senders approved with ``pairing approve``; the
  others wait). An accepted requester gets ``friendRequestGreeting`` when it is set (through
  the send governor, like any message).
* Group joins, leaves, removals and renames, and recalled messages in groups, go into the
  group's pending history (what the agent sees with the next processed message there), for
  groups the group policy lets through; a rename also refreshes the cached group name.
* A recalled DM goes to the inbox as a conversation event: after access control the
  pipeline notes "message X was recalled" in the conversation's transcript.

A failure here is logged and never stops the listener.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from zalogate.channels.zalouser.inbound import GroupInfoCache, recall_event
from zalogate.channels.zalouser.traits import CHANNEL_ID
from zalogate.core.access import WILDCARD, AccountPolicy, decide_group, match_key
from zalogate.core.history import GroupHistory, HistoryEntry, group_history_key
from zalogate.core.model import InboundMessage
from zalogate.personal.api import PersonalApi
from zalogate.personal.events import FriendEvent, GroupEvent, Undo

__all__ = ["FRIEND_REQUEST_MODES", "AccountEvents", "ControlEvent", "group_notice"]

log = logging.getLogger(__name__)

FriendRequestMode = Literal["ignore", "accept", "pairing"]
FRIEND_REQUEST_MODES: tuple[FriendRequestMode, ...] = ("ignore", "accept", "pairing")
ControlEvent = FriendEvent | GroupEvent | Undo
_CLOSED_GROUP = frozenset(
    {
        "group_policy_disabled",
        "route_disabled",
        "route_not_allowlisted",
        "group_policy_empty_allowlist",
    }
)


def _names(data: Mapping[str, Any]) -> str:
    members = data.get("updateMembers")
    names = [
        str(m.get("dName") or m.get("id") or "") for m in members or () if isinstance(m, Mapping)
    ]
    return ", ".join(n for n in names if n) or "someone"


def group_notice(event: GroupEvent) -> str | None:
    """The history line of a group event, or None for kinds the transcript skips."""
    data = event.data
    if event.kind == "join":
        return f"{_names(data)} joined the group"
    if event.kind == "leave":
        return f"{_names(data)} left the group"
    if event.kind in ("remove_member", "block_member"):
        return f"{_names(data)} was removed from the group"
    if event.kind == "update" and data.get("groupName"):
        return f"the group was renamed to “{data['groupName']}”"
    return None


class AccountEvents:
    """Handles one account's friend, group and recall events.

    Args:
        account_id: The account.
        settings: Its merged settings (``friendRequests``, ``friendRequestGreeting``).
        call: Runs an API call on the account's connection.
        policy: The account's current access policy.
        approved: The senders approved in the pairing store.
        greet: Sends a text to a user (through the channel's governed sender).
        history: The pending group history.
        groups: The account's group-info cache.
        admit: The inbox (a recalled DM is admitted as a conversation event).
    """

    def __init__(
        self,
        account_id: str,
        settings: Mapping[str, Any],
        *,
        call: Callable[[Callable[[PersonalApi], Awaitable[Any]]], Awaitable[Any]],
        policy: Callable[[], AccountPolicy],
        approved: Callable[[], Awaitable[frozenset[str]]],
        greet: Callable[[str, str], Awaitable[Any]],
        history: GroupHistory,
        groups: GroupInfoCache,
        admit: Callable[[InboundMessage], Awaitable[Any]] | None = None,
    ) -> None:
        mode = settings.get("friendRequests")
        self.mode: FriendRequestMode = mode if mode in FRIEND_REQUEST_MODES else "ignore"
        greeting = settings.get("friendRequestGreeting")
        self.greeting = greeting.strip() if isinstance(greeting, str) else ""
        self.account_id = account_id
        self._call = call
        self._policy = policy
        self._approved = approved
        self._greet = greet
        self._history = history
        self._groups = groups
        self._admit = admit

    async def handle(self, event: ControlEvent) -> None:
        """Act on one event (failures are logged)."""
        try:
            if isinstance(event, FriendEvent):
                await self._friend(event)
            elif isinstance(event, GroupEvent):
                notice = group_notice(event)
                if event.kind == "update":
                    self._groups.forget(event.group_id)
                if notice is not None:
                    await self._remember(event.group_id, "Zalo", notice, _actor(event.data))
            elif event.thread_type.value == "group":
                who = event.sender_id
                await self._remember(event.thread_id, who, "(recalled a message)", who)
            else:
                recall = recall_event(self.account_id, event)
                if recall is not None and self._admit is not None:
                    await self._admit(recall)
        except Exception as exc:  # an event must never stop the listener
            log.warning("[%s] zalouser event %s failed: %s", self.account_id, event, exc)

    async def _friend(self, event: FriendEvent) -> None:
        if event.kind != "request" or event.is_self:
            return
        data = event.data if isinstance(event.data, Mapping) else {}
        requester = str(data.get("fromUid") or "")
        if not requester:
            return
        if self.mode == "ignore" or not await self._admitted(requester):
            log.info(
                "[%s] friend request from %s left for the owner (friendRequests: %s)",
                self.account_id,
                requester,
                self.mode,
            )
            return
        await self._call(lambda api: api.accept_friend_request(requester))
        log.info("[%s] accepted the friend request of %s", self.account_id, requester)
        if self.greeting:
            await self._greet(requester, self.greeting)

    async def _admitted(self, user_id: str) -> bool:
        if self.mode == "accept":
            return True
        policy = self._policy()
        allowed = policy.allow_from
        if WILDCARD in allowed or match_key(user_id) in allowed:
            return True
        return policy.dm_policy == "pairing" and match_key(user_id) in await self._approved()

    async def _remember(self, group_id: str, sender: str, body: str, actor: str) -> None:
        policy = self._policy()
        if decide_group(policy, group_id, actor).reason in _CLOSED_GROUP:
            return
        entry = HistoryEntry(
            sender=sender,
            body=body,
            timestamp_ms=int(time.time() * 1000),
            sender_id=actor,
        )
        key = group_history_key(CHANNEL_ID, self.account_id, group_id)
        await self._history.append(key, entry, policy.history_limit)


def _actor(data: Mapping[str, Any]) -> str:
    return str(data.get("sourceId") or data.get("creatorId") or "")
