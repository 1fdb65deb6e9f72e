"""Messages: delivery to listeners (501/521), text sends, typing, receipts and undo."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from zalogate.testing.fake_personal.model import (
    SentRecord,
    ThreadKind,
)
from zalogate.testing.fake_personal.state import (
    ERR_BAD_PARAMS,
    ERR_NOT_FOUND,
    ApiError,
    Call,
    Device,
    FakeState,
)
from zalogate.text import utf16_len


class Messaging(FakeState):
    """Delivering messages and the text, typing, receipt and undo calls."""

    def _mention_for(self, text: str, mention: str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(mention, dict):
            return {"type": 0, **mention}
        if mention == "-1":
            at = text.find("@")
            word = text[at:].split(" ", 1)[0] if at >= 0 else "@All"
            return {"uid": "-1", "pos": max(at, 0), "len": utf16_len(word), "type": 1}
        name = self._account_or_new(mention).name
        at = text.find("@" + name)
        width = len(name) + 1
        if at < 0:
            at = max(text.find("@"), 0)
            width = len(text[at:].split(" ", 1)[0])
        return {
            "uid": mention,
            "pos": utf16_len(text[:at]),
            "len": utf16_len(text[at : at + width]),
            "type": 0,
        }

    async def _deliver_dm(
        self,
        sender: str,
        to: str,
        msg_type: str,
        content: Any,
        cli_msg_id: str | None,
        origin: Device | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._account_or_new(to)
        msg = self._message(501, sender, msg_type, content, cli_msg_id, extra)
        msg["idTo"] = to
        self.messages[msg["msgId"]] = msg
        inbound = {**msg, "idTo": "0"}
        echo = {**msg, "uidFrom": "0"}
        for lst in list(self._listeners):
            if lst.uid == to and to != sender:
                await self._send_event(lst, 501, 0, {"data": {"msgs": [inbound]}})
            elif lst.uid == sender and lst.device is not origin:
                await self._send_event(lst, 501, 0, {"data": {"msgs": [echo]}})
        return msg

    async def _deliver_group(
        self,
        sender: str,
        group_id: str,
        msg_type: str,
        content: Any,
        cli_msg_id: str | None,
        origin: Device | None,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is None:
            raise ApiError(ERR_NOT_FOUND, "group not found")
        msg = self._message(521, sender, msg_type, content, cli_msg_id, extra)
        msg["idTo"] = group_id
        if mentions:
            msg["mentions"] = mentions
        self.messages[msg["msgId"]] = msg
        echo = {**msg, "uidFrom": "0"}
        for lst in list(self._listeners):
            if lst.uid == sender:
                if lst.device is not origin:
                    await self._send_event(lst, 521, 0, {"data": {"groupMsgs": [echo]}})
            elif lst.uid in group.members:
                await self._send_event(lst, 521, 0, {"data": {"groupMsgs": [msg]}})
        return msg

    async def _deliver(
        self,
        call: Call,
        thread: str,
        kind: ThreadKind,
        msg_type: str,
        content: Any,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        cli = call.params.get("clientId")
        cli_id = str(cli) if cli is not None else None
        if kind == "group":
            return await self._deliver_group(
                call.account.uid, thread, msg_type, content, cli_id, call.device, mentions, extra
            )
        return await self._deliver_dm(
            call.account.uid, thread, msg_type, content, cli_id, call.device, extra
        )

    async def _send(
        self,
        call: Call,
        thread: str,
        kind: ThreadKind,
        record_kind: str,
        msg_type: str,
        content: Any,
        text: str | None,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, int]:
        """Deliver a message a client sent, record it in `sent`, answer with its ``msgId``."""
        mentions = mentions or []
        msg = await self._deliver(call, thread, kind, msg_type, content, mentions, extra)
        await self._record(
            SentRecord(
                record_kind,
                call.path,
                call.account.uid,
                thread,
                kind,
                text=text,
                msg_id=msg["msgId"],
                cli_msg_id=msg["cliMsgId"],
                mentions=tuple(mentions),
                params=call.params,
            )
        )
        return {"msgId": int(msg["msgId"])}

    async def _send_text(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        text = call.params.get("message")
        if not isinstance(text, str) or not text:
            raise ApiError(ERR_BAD_PARAMS, "missing message")
        mentions = self._mentions(call) if kind == "group" else []
        extra: dict[str, Any] = {}
        if call.path.endswith("/quote"):
            extra["quote"] = {
                "ownerId": str(call.params.get("qmsgOwner", "")),
                "cliMsgId": call.params.get("qmsgCliId"),
                "globalMsgId": call.params.get("qmsgId"),
                "cliMsgType": call.params.get("qmsgType"),
                "ts": call.params.get("qmsgTs"),
                "msg": call.params.get("qmsg", ""),
                "attach": call.params.get("qmsgAttach", ""),
                "fromD": "",
                "ttl": 0,
            }
        return await self._send(call, thread, kind, "text", "webchat", text, text, mentions, extra)

    async def _typing(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        now = int(time.time() * 1000)
        if kind == "group":
            data = f'"uid":"{call.account.uid}","gid":"{thread}","ts":"{now}","isPC":0'
            action = {"act_type": "typing", "act": "gtyping", "data": data}
            audience = [u for u in self.groups[thread].members if u != call.account.uid]
        else:
            data = f'"uid":"{call.account.uid}","ts":"{now}","isPC":0'
            action = {"act_type": "typing", "act": "typing", "data": data}
            audience = [thread]
        for lst in list(self._listeners):
            if lst.uid in audience:
                await self._send_event(lst, 602, 0, {"data": {"actions": [action]}})
        await self._record(
            SentRecord("typing", call.path, call.account.uid, thread, kind, params=call.params)
        )
        return {"status": 1}

    async def _receipt(self, call: Call) -> Any:
        raw = call.params.get("msgInfos")
        infos = json.loads(raw) if isinstance(raw, str) else (raw or {})
        kind: ThreadKind = "group" if self._is_group(call) else "user"
        thread = str(infos.get("grid") or infos.get("senderId") or "")
        entries = infos.get("data") or []
        if not thread and entries:
            first = entries[0]
            thread = str(first.get("si") if kind == "user" else first.get("di"))
        name = "seen" if "seen" in call.path else "delivered"
        await self._record(
            SentRecord(
                name,
                call.path,
                call.account.uid,
                thread,
                kind,
                msg_id=str(entries[0].get("gmi")) if entries else None,
                params={**call.params, "msgInfos": infos},
            )
        )
        await self._push_receipts(call.account.uid, kind, thread, entries, name == "seen")
        return {"status": 1} if name == "seen" else ""

    async def _push_receipts(
        self, reader: str, kind: ThreadKind, thread: str, entries: list[Any], seen: bool
    ) -> None:
        """Tell the authors of the acknowledged messages (502 for DMs, 522 for groups)."""
        for entry in entries:
            original = self.messages.get(str(entry.get("gmi")))
            if original is None or original["uidFrom"] == reader:
                continue
            msg_id = original["msgId"]
            if kind == "user":
                if seen:
                    payload: dict[str, Any] = {
                        "seens": [{"idTo": reader, "msgId": msg_id, "realMsgId": msg_id}]
                    }
                else:
                    payload = {"delivereds": [_delivered(msg_id, reader)]}
                cmd = 502
            else:
                if seen:
                    payload = {
                        "groupSeens": [{"msgId": msg_id, "groupId": thread, "seenUids": [reader]}]
                    }
                else:
                    payload = {"delivereds": [{**_delivered(msg_id, reader), "groupId": thread}]}
                cmd = 522
            for lst in self._listeners_of(original["uidFrom"]):
                await self._send_event(lst, cmd, 0, {"data": payload})

    async def _undo(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        msg_id = str(call.params.get("msgId", ""))
        original = self.messages.get(msg_id)
        if original is None or original["uidFrom"] != call.account.uid:
            raise ApiError(ERR_NOT_FOUND, "message not found")
        content = {
            "deleteMsg": 1,
            "globalMsgId": msg_id,
            "cliMsgId": str(call.params.get("cliMsgIdUndo", "")),
            "srcId": call.account.uid,
            "destId": thread,
        }
        await self._deliver(call, thread, kind, "chat.undo", content)
        await self._record(
            SentRecord(
                "undo", call.path, call.account.uid, thread, kind, msg_id=msg_id, params=call.params
            )
        )
        return {"status": 1}

    async def _delete(self, call: Call) -> Any:
        """``deleteMessage``: hide messages (for this account only, or for a whole group)."""
        thread, kind = self._thread(call)
        for ref in call.params["msgs"]:
            msg_id = ref["globalMsgId"]
            if msg_id not in self.messages:
                raise ApiError(ERR_NOT_FOUND, "message not found")
            await self._record(
                SentRecord(
                    "delete",
                    call.path,
                    call.account.uid,
                    thread,
                    kind,
                    msg_id=msg_id,
                    params=call.params,
                )
            )
        return {"status": 0}


def _delivered(msg_id: Any, reader: str) -> dict[str, Any]:
    """One ``delivereds`` entry of a 502/522 event: ``reader`` got ``msg_id`` (not seen yet)."""
    return {
        "msgId": msg_id,
        "seen": 0,
        "deliveredUids": [reader],
        "seenUids": [],
        "realMsgId": msg_id,
        "mSTs": int(time.time() * 1000),
    }
