"""`DirectoryApi`: friends, groups, members and profiles (reference §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from zalogate.personal.api_base import ApiBase, in_chunks
from zalogate.personal.crypto import compact_json
from zalogate.personal.errors import ConfigurationError, NotFoundError, ProtocolError
from zalogate.personal.profiles import GroupInfo, GroupMember, UserProfile

__all__ = ["GROUP_INFO_CHUNK", "DirectoryApi"]

#: Group ids per ``getmg-v2`` call.
GROUP_INFO_CHUNK: Final = 80


class DirectoryApi(ApiBase):
    """Looking up friends, groups, group members and profiles."""

    async def friends(self) -> list[UserProfile]:
        """Every friend of this account."""
        params = {
            "incInvalid": 1,
            "page": 1,
            "count": 20000,
            "avatar_size": 120,
            "actiontime": 0,
            "imei": self.session.imei,
        }
        result = await self.http.call(
            "GET", self._url("profile", "/api/social/friend/getfriends"), params
        )
        if not isinstance(result, list):
            raise ProtocolError("getfriends answer is not a list")
        return [UserProfile.from_json(u) for u in result if isinstance(u, Mapping)]

    async def group_ids(self) -> list[str]:
        """Ids of every group this account is in."""
        result = await self.http.call("GET", self._url("group_poll", "/api/group/getlg/v4"))
        grid = result.get("gridVerMap") if isinstance(result, Mapping) else None
        if not isinstance(grid, Mapping):
            raise ProtocolError("getlg/v4 answer lacks gridVerMap")
        return [str(g) for g in grid]

    async def groups_info(self, group_ids: Sequence[str]) -> dict[str, GroupInfo]:
        """Info of the given groups (asked in chunks of 80); unknown ids are left out."""
        out: dict[str, GroupInfo] = {}
        for chunk in in_chunks(list(group_ids), GROUP_INFO_CHUNK):
            params = {"gridVerMap": compact_json({str(g): 0 for g in chunk})}
            result = await self.http.call("POST", self._url("group", "/api/group/getmg-v2"), params)
            infos = result.get("gridInfoMap") if isinstance(result, Mapping) else None
            if not isinstance(infos, Mapping):
                raise ProtocolError("getmg-v2 answer lacks gridInfoMap")
            for gid, info in infos.items():
                if isinstance(info, Mapping):
                    out[str(gid)] = GroupInfo.from_json(str(gid), info)
        return out

    async def all_groups(self) -> dict[str, GroupInfo]:
        """`group_ids` then `groups_info`."""
        return await self.groups_info(await self.group_ids())

    async def group_members(self, member_ids: Sequence[str]) -> dict[str, GroupMember]:
        """Profiles of group members (ids from `GroupInfo.member_ids`)."""
        out: dict[str, GroupMember] = {}
        for chunk in in_chunks(list(member_ids), GROUP_INFO_CHUNK):
            params = {"friend_pversion_map": [f"{uid}_0" for uid in chunk]}
            result = await self.http.call(
                "GET", self._url("profile", "/api/social/group/members"), params
            )
            profiles = result.get("profiles") if isinstance(result, Mapping) else None
            if not isinstance(profiles, Mapping):
                raise ProtocolError("group members answer lacks profiles")
            for uid, p in profiles.items():
                if isinstance(p, Mapping):
                    out[str(uid)] = GroupMember(
                        uid=str(p.get("id") or uid),
                        display_name=str(p.get("displayName") or ""),
                        zalo_name=str(p.get("zaloName") or ""),
                        avatar=str(p.get("avatar") or ""),
                        raw=dict(p),
                    )
        return out

    async def user_info(self, user_ids: Sequence[str]) -> dict[str, UserProfile]:
        """Profiles of users (zca-js ``getUserInfo``); unknown ids are left out."""
        extra = self.session.login_info.get("extra_ver")
        phonebook = extra.get("phonebook", 0) if isinstance(extra, Mapping) else 0
        out: dict[str, UserProfile] = {}
        for chunk in in_chunks([str(u) for u in user_ids], GROUP_INFO_CHUNK):
            params = {
                "phonebook_version": int(phonebook) if str(phonebook).isdigit() else 0,
                "friend_pversion_map": [f"{uid}_0" for uid in chunk],
                "avatar_size": 120,
                "language": self.session.language,
                "show_online_status": 1,
                "imei": self.session.imei,
            }
            result = await self.http.call(
                "POST", self._url("profile", "/api/social/friend/getprofiles/v2"), params
            )
            changed = result.get("changed_profiles") if isinstance(result, Mapping) else None
            if not isinstance(changed, Mapping):
                raise ProtocolError("getprofiles/v2 answer lacks changed_profiles")
            for uid, profile in changed.items():
                if isinstance(profile, Mapping):
                    out[str(uid)] = UserProfile.from_json({"userId": str(uid), **profile})
        return out

    async def accept_friend_request(self, user_id: str) -> None:
        """Accept ``user_id``'s friend request (zca-js ``acceptFriendRequest``)."""
        params = {"fid": str(user_id), "language": self.session.language}
        await self.http.call("POST", self._url("friend", "/api/friend/accept"), params)

    async def own_profile(self) -> UserProfile:
        """This account's profile."""
        result = await self.http.call("GET", self._url("profile", "/api/social/profile/me-v2"))
        profile = result.get("profile") if isinstance(result, Mapping) else None
        if not isinstance(profile, Mapping):
            raise ProtocolError("me-v2 answer lacks profile")
        return UserProfile.from_json(profile)

    async def find_user(self, phone: str) -> UserProfile | None:
        """The user with this phone number, or ``None`` (code 216).

        A leading ``0`` becomes the ``84`` country code when the language is ``vi``.
        """
        digits = "".join(c for c in phone if c.isdigit())
        if not digits:
            raise ConfigurationError(f"not a phone number: {phone!r}")
        if digits.startswith("0") and self.session.language == "vi":
            digits = "84" + digits[1:]
        params = {
            "phone": digits,
            "avatar_size": 240,
            "language": self.session.language,
            "imei": self.session.imei,
            "reqSrc": 40,
        }
        try:
            result = await self.http.call(
                "GET", self._url("friend", "/api/friend/profile/get"), params
            )
        except NotFoundError:
            return None
        if not isinstance(result, Mapping):
            raise ProtocolError("profile/get answer is not an object")
        return UserProfile.from_json(result)
