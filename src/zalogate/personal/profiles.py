"""Who is who: user profiles, groups and group members as the directory endpoints return them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupInfo", "GroupMember", "UserProfile"]


@dataclass(frozen=True, slots=True)
class UserProfile:
    """A Zalo user (friend list, own profile, phone lookup)."""

    uid: str
    display_name: str
    zalo_name: str
    avatar: str
    phone: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserProfile:
        """Parse a ``User`` or ``UserBasic`` object (both key styles)."""
        return cls(
            uid=str(data.get("userId") or data.get("uid") or data.get("id") or ""),
            display_name=str(data.get("displayName") or data.get("display_name") or ""),
            zalo_name=str(data.get("zaloName") or data.get("zalo_name") or ""),
            avatar=str(data.get("avatar") or ""),
            phone=str(data.get("phoneNumber") or ""),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group's name and membership (``getmg-v2``)."""

    group_id: str
    name: str
    member_ids: tuple[str, ...]
    admin_ids: tuple[str, ...]
    creator_id: str
    total_members: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, group_id: str, data: Mapping[str, Any]) -> GroupInfo:
        """Parse one ``gridInfoMap`` entry."""
        members = data.get("memberIds") or [m.get("id") for m in data.get("currentMems") or []]
        return cls(
            group_id=str(data.get("groupId") or group_id),
            name=str(data.get("name") or ""),
            member_ids=tuple(str(m) for m in members if m),
            admin_ids=tuple(str(a) for a in data.get("adminIds") or []),
            creator_id=str(data.get("creatorId") or ""),
            total_members=int(data.get("totalMember") or len(members)),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A member profile from ``social/group/members``."""

    uid: str
    display_name: str
    zalo_name: str
    avatar: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
