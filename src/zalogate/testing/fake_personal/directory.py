"""Users, friends and groups: the lookup calls."""

from __future__ import annotations

import json
from typing import Any

from zalogate.testing.fake_personal.model import (
    FakeGroup,
)
from zalogate.testing.fake_personal.state import ERR_NOT_FOUND, ApiError, Call, FakeState


class Directory(FakeState):
    """Friends, groups, members, profiles and the keep-alive."""

    async def _friends(self, call: Call) -> Any:
        return [
            self.accounts[uid].profile()
            for uid in sorted(call.account.friends)
            if uid in self.accounts
        ]

    async def _accept_friend(self, call: Call) -> Any:
        requester = str(call.params["fid"])
        if requester not in call.account.friend_requests:
            raise ApiError(ERR_NOT_FOUND, "no friend request from this user")
        call.account.friend_requests.discard(requester)
        call.account.friends.add(requester)
        self._account_or_new(requester).friends.add(call.account.uid)
        return ""

    async def _group_ids(self, call: Call) -> Any:
        mine = {
            g.group_id: g.version for g in self.groups.values() if call.account.uid in g.members
        }
        return {"version": "1", "gridVerMap": mine}

    def _group_info_of(self, group: FakeGroup) -> dict[str, Any]:
        mems = [
            {
                "id": uid,
                "dName": self._account_or_new(uid).name,
                "zaloName": self._account_or_new(uid).name,
                "avatar": self._account_or_new(uid).avatar,
                "avatar_25": self._account_or_new(uid).avatar,
                "accountStatus": 0,
                "type": 1,
            }
            for uid in group.members
        ]
        return {
            "groupId": group.group_id,
            "name": group.name,
            "desc": "",
            "type": 1,
            "creatorId": group.creator,
            "version": group.version,
            "avt": "",
            "fullAvt": "",
            "memberIds": list(group.members),
            "adminIds": list(group.admins),
            "currentMems": mems,
            "updateMems": [],
            "memVerList": [f"{uid}_0" for uid in group.members],
            "admins": list(group.admins),
            "hasMoreMember": 0,
            "subType": 0,
            "totalMember": len(group.members),
            "maxMember": 1000,
            "setting": {},
            "createdTime": 0,
            "visibility": 0,
            "globalId": "G" + group.group_id,
            "e2ee": 0,
            "extraInfo": {"enable_media_store": 1},
            "pendingApprove": {"time": 0, "uids": None},
        }

    async def _group_info(self, call: Call) -> Any:
        raw = call.params.get("gridVerMap") or "{}"
        wanted = json.loads(raw) if isinstance(raw, str) else raw
        found = {
            gid: self._group_info_of(self.groups[gid])
            for gid in wanted
            if gid in self.groups and call.account.uid in self.groups[gid].members
        }
        missing = [gid for gid in wanted if gid not in found]
        return {"removedsGroup": missing, "unchangedsGroup": [], "gridInfoMap": found}

    async def _group_members(self, call: Call) -> Any:
        profiles: dict[str, Any] = {}
        for item in call.params.get("friend_pversion_map") or []:
            uid = str(item).rsplit("_", 1)[0]
            account = self.accounts.get(uid)
            if account is None:
                continue
            profiles[uid] = {
                "displayName": account.name,
                "zaloName": account.name,
                "avatar": account.avatar,
                "accountStatus": 0,
                "type": 1,
                "lastUpdateTime": 0,
                "globalId": "G" + uid,
                "id": uid,
            }
        return {"profiles": profiles, "unchangeds_profile": []}

    async def _user_info(self, call: Call) -> Any:
        changed: dict[str, Any] = {}
        for item in call.params.get("friend_pversion_map") or []:
            uid = str(item).rsplit("_", 1)[0]
            if uid in self.accounts:
                changed[uid] = self.accounts[uid].profile()
        return {"changed_profiles": changed, "unchanged_profiles": {}, "phonebook_version": 0}

    async def _find_user(self, call: Call) -> Any:
        phone = str(call.params.get("phone", ""))
        for account in self.accounts.values():
            if account.phone and _same_phone(account.phone, phone):
                return {
                    "uid": account.uid,
                    "zalo_name": account.name,
                    "display_name": account.name,
                    "avatar": account.avatar,
                    "cover": "",
                    "status": "",
                    "gender": 0,
                    "dob": 0,
                    "sdob": "",
                    "globalId": "G" + account.uid,
                    "bizPkg": {"label": None, "pkgId": 0},
                }
        raise ApiError(ERR_NOT_FOUND, "user not found")

    async def _me(self, call: Call) -> Any:
        return {"profile": call.account.profile()}

    async def _keepalive(self, call: Call) -> Any:
        return {"config_vesion": 1}


def _same_phone(stored: str, asked: str) -> bool:
    def norm(p: str) -> str:
        digits = "".join(c for c in p if c.isdigit())
        return "84" + digits[1:] if digits.startswith("0") else digits

    return norm(stored) == norm(asked)
