"""Scripted users and groups: the other side of a conversation, driven by the test."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zalogate.testing.fake_personal.model import (
    FakeAccount,
    FakeGroup,
)
from zalogate.testing.fake_personal.state import attachment

if TYPE_CHECKING:
    from zalogate.testing.fake_personal.server import FakeZaloPersonal


class ScriptedUser:
    """A simulated user driven by the test (never logs in)."""

    def __init__(self, fake: FakeZaloPersonal, account: FakeAccount) -> None:
        self._fake = fake
        self.account = account

    async def says_to(
        self, account: FakeAccount | str, text: str, *, quote: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send a direct text message to ``account``; returns the message object sent."""
        to = self._fake._uid(account)
        extra = {"quote": quote} if quote else {}
        return await self._fake._deliver_dm(
            self.account.uid, to, "webchat", text, cli_msg_id=None, origin=None, extra=extra
        )

    async def sends_photo_to(
        self, account: FakeAccount | str, data: bytes, *, caption: str = ""
    ) -> dict[str, Any]:
        """Send a photo message (content object with ``href``/``thumb``) to ``account``."""
        url = self._fake._store_media(data, ".jpg")
        content = attachment(caption, url, url, {"width": 1, "height": 1})
        return await self._fake._deliver_dm(
            self.account.uid, self._fake._uid(account), "chat.photo", content, None, None
        )

    async def sends_to(
        self, account: FakeAccount | str, msg_type: str, content: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Send a message of any kind (``chat.voice``, ``chat.sticker``…) with ``content``."""
        return await self._fake._deliver_dm(
            self.account.uid, self._fake._uid(account), msg_type, dict(content), None, None
        )

    async def sends_file_to(
        self,
        account: FakeAccount | str,
        data: bytes,
        name: str,
        *,
        msg_type: str = "share.file",
    ) -> dict[str, Any]:
        """Send a file (or, with ``msg_type``, a voice or video message) served by the fake."""
        url = self._fake._store_media(data, "." + name.rsplit(".", 1)[-1])
        params = {"fileSize": str(len(data)), "fileExt": name.rsplit(".", 1)[-1]}
        return await self.sends_to(account, msg_type, attachment(name, url, "", params))

    async def sends_friend_request_to(self, account: FakeAccount | str, message: str = "") -> None:
        """Ask ``account`` for friendship (a 601 ``fr``/``req_v2`` control to its listeners)."""
        to = self._fake._uid(account)
        self._fake._account_or_new(to).friend_requests.add(self.account.uid)
        data = {"fromUid": self.account.uid, "toUid": to, "message": message, "src": 30}
        await self._fake._push_control(to, "fr", "req_v2", json.dumps(data))

    async def recalls(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Recall (undo) a message this user sent, in its DM or group."""
        content = {
            "deleteMsg": 1,
            "globalMsgId": message["msgId"],
            "cliMsgId": message.get("cliMsgId"),
            "srcId": self.account.uid,
            "destId": message.get("idTo"),
        }
        if message.get("cmd") == 521:
            return await self._fake._deliver_group(
                self.account.uid, str(message["idTo"]), "chat.undo", content, None, None
            )
        return await self._fake._deliver_dm(
            self.account.uid, str(message["idTo"]), "chat.undo", content, None, None
        )

    async def types_to(self, account: FakeAccount | str) -> None:
        """Show "typing..." to ``account`` (a 602 event)."""
        to = self._fake._uid(account)
        now = int(time.time() * 1000)
        data = f'"uid":"{self.account.uid}","ts":"{now}","isPC":0'
        action = {"act_type": "typing", "act": "typing", "data": data}
        for lst in self._fake._listeners_of(to):
            await self._fake._send_event(lst, 602, 0, {"data": {"actions": [action]}})

    async def sees(self, message: Mapping[str, Any]) -> None:
        """Mark a message (sent by someone else) as seen; its author gets 502/522."""
        is_group = message.get("cmd") == 521
        thread = str(message.get("idTo")) if is_group else str(message.get("uidFrom"))
        entry = {"gmi": message.get("msgId")}
        await self._fake._push_receipts(
            self.account.uid, "group" if is_group else "user", thread, [entry], True
        )

    async def reacts_to(
        self, message: Mapping[str, Any], icon: str = "/-heart", r_type: int = 5
    ) -> None:
        """React to a message that was delivered to this user."""
        await self._fake._deliver_reaction(self.account.uid, message, icon, r_type)


class ScriptedGroup:
    """A group seen from the test; ``user(uid)`` gives a member that can speak in it."""

    def __init__(self, fake: FakeZaloPersonal, group: FakeGroup) -> None:
        self._fake = fake
        self.group = group

    async def event(self, act: str, actor: str, **data: Any) -> None:
        """A 601 ``group`` control (``join``, ``leave``, ``update``…) to the members' listeners;
        ``actor`` is the member it concerns (``updateMembers``)."""
        who = self._fake._account_or_new(actor)
        body = {
            "groupId": self.group.group_id,
            "groupName": self.group.name,
            "sourceId": actor,
            "creatorId": actor,
            "updateMembers": [{"id": actor, "dName": who.name, "avatar": ""}],
            **data,
        }
        if act == "join" and actor not in self.group.members:
            self.group.members.append(actor)
        for uid in list(self.group.members):
            await self._fake._push_control(uid, "group", act, json.dumps(body))
        if act == "leave" and actor in self.group.members:
            self.group.members.remove(actor)

    def user(self, uid: str) -> ScriptedGroupMember:
        """A scripted member of this group (added to the members if missing)."""
        account = self._fake._account_or_new(uid)
        if uid not in self.group.members:
            self.group.members.append(uid)
        return ScriptedGroupMember(self._fake, self.group, account)


class ScriptedGroupMember:
    """A scripted user speaking in one group."""

    def __init__(self, fake: FakeZaloPersonal, group: FakeGroup, account: FakeAccount) -> None:
        self._fake = fake
        self.group = group
        self.account = account

    async def says(
        self, text: str, *, mentions: list[str | dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Say ``text`` in the group; ``mentions`` are uids (located by ``@Name``) or dicts."""
        resolved = [self._fake._mention_for(text, m) for m in mentions or []]
        return await self._fake._deliver_group(
            self.account.uid, self.group.group_id, "webchat", text, None, None, resolved
        )
