"""Reactions: the reaction call and its 612 fan-out."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from zalogate.testing.fake_personal import wire
from zalogate.testing.fake_personal.model import (
    SentRecord,
)
from zalogate.testing.fake_personal.state import ERR_NOT_FOUND, ApiError, Call, Device, FakeState


class Reactions(FakeState):
    """Reacting to a message (the call and the 612 event)."""

    async def _deliver_reaction(
        self,
        sender: str,
        target: Mapping[str, Any],
        icon: str,
        r_type: int,
        origin: Device | None = None,
    ) -> None:
        is_group = target.get("cmd") == 521 or target.get("idTo") in self.groups
        thread = str(target.get("idTo"))
        owner = str(target.get("uidFrom"))
        content = wire.dumps(
            {
                "rMsg": [
                    {"gMsgID": target.get("msgId"), "cMsgID": target.get("cliMsgId"), "msgType": 1}
                ],
                "rIcon": icon,
                "rType": r_type,
                "source": 6,
            }
        )
        react = {
            "actionId": str(next(self._action_ids)),
            "msgId": str(next(self._ids)),
            "cliMsgId": str(int(time.time() * 1000)),
            "msgType": "chat.reaction",
            "uidFrom": sender,
            "idTo": thread if is_group else owner,
            "dName": self._account_or_new(sender).name,
            "content": content,
            "ts": str(int(time.time() * 1000)),
            "ttl": 0,
        }
        if is_group:
            audience = set(self.groups[thread].members) if thread in self.groups else set()
        else:
            audience = {owner, thread}
        for lst in list(self._listeners):
            if lst.uid == sender:
                if lst.device is origin:
                    continue
                item = {**react, "uidFrom": "0"}
            elif lst.uid in audience:
                item = dict(react)
                if not is_group and item["idTo"] == lst.uid:
                    item["idTo"] = "0"
            else:
                continue
            payload = (
                {"reacts": [], "reactGroups": [item]}
                if is_group
                else {
                    "reacts": [item],
                    "reactGroups": [],
                }
            )
            await self._send_event(lst, 612, 0, {"data": payload})

    async def _reaction(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        ids: list[int] = []
        for item in call.params.get("react_list") or []:
            body = json.loads(item["message"]) if isinstance(item.get("message"), str) else {}
            for ref in body.get("rMsg", []):
                target = self.messages.get(str(ref.get("gMsgID")))
                if target is None:
                    raise ApiError(ERR_NOT_FOUND, "message not found")
                await self._deliver_reaction(
                    call.account.uid,
                    target,
                    str(body.get("rIcon", "")),
                    int(body.get("rType", -1)),
                    call.device,
                )
                await self._record(
                    SentRecord(
                        "reaction",
                        call.path,
                        call.account.uid,
                        thread,
                        kind,
                        text=str(body.get("rIcon", "")),
                        msg_id=str(ref.get("gMsgID")),
                        cli_msg_id=str(ref.get("cMsgID")),
                        params={**call.params, "reaction": body},
                    )
                )
                ids.append(int(next(self._ids)))
        return {"msgIds": wire.dumps(ids)}
