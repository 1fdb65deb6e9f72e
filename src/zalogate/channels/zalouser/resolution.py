"""Startup name -> id resolution for ``allowFrom``, ``groupAllowFrom`` and ``groups`` keys.

People write display names (``"Alice Nguyen"``) and group names (``"Team"``) in the config;
at run time only ids match (names are spoofable). When a monitor starts:

* names in ``allowFrom`` / ``groupAllowFrom`` are looked up in the friend list (display name,
  else Zalo name, case-insensitive; the first match wins) and the ids are added to the list;
* ``groups`` keys that are names are looked up in the group list; the name -> id mapping goes
  to :attr:`~zalogate.core.access.AccountPolicy.group_name_ids`, so the entry applies to that
  group id.

The mapping and the unresolved entries are logged. A failed lookup is logged ("zalouser
resolve failed; using config entries.") and the config entries are used as they are.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zalogate.core.access import WILDCARD, match_key
from zalogate.personal.api import PersonalApi
from zalogate.personal.profiles import GroupInfo, UserProfile
from zalogate.store import write_private_file

__all__ = [
    "NameResolution",
    "is_group_id_key",
    "is_user_id",
    "resolution_fingerprint",
    "resolve_names",
]

log = logging.getLogger(__name__)

_ID = re.compile(r"^(?:\d+|[gu]-\S+)$", re.IGNORECASE)
_USER_PREFIXES = ("zalouser:", "zlu:", "user:", "dm:", "u:")


def _strip_user(entry: str) -> str:
    text = entry.strip()
    lowered = text.lower()
    for prefix in _USER_PREFIXES:
        if lowered.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def is_user_id(entry: str | int) -> bool:
    """True for ``*`` and entries that are ids (numeric, maybe prefixed), not names."""
    if isinstance(entry, int):
        return True
    text = _strip_user(entry)
    return text == WILDCARD or bool(_ID.match(text))


def is_group_id_key(key: str) -> bool:
    """True for ``*``, ``group:<id>`` and bare ids (numeric or ``g-…``)."""
    text = key.strip()
    if text == WILDCARD or text.lower().startswith(("group:", "g:")):
        return True
    return bool(_ID.match(text))


@dataclass(frozen=True, slots=True)
class NameResolution:
    """What the startup lookup found.

    Attributes:
        allow_from: ``allowFrom`` with the resolved ids added (None when unset).
        group_allow_from: ``groupAllowFrom`` likewise.
        group_name_ids: ``groups`` names (as written) -> group id.
        users: Resolved user names -> id.
        unresolved_users: Names no friend has.
        unresolved_groups: Names no group has.
    """

    allow_from: list[str | int] | None = None
    group_allow_from: list[str | int] | None = None
    group_name_ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    unresolved_users: tuple[str, ...] = ()
    unresolved_groups: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy (ids and names only; nothing secret)."""
        return {
            "allowFrom": self.allow_from,
            "groupAllowFrom": self.group_allow_from,
            "groupNameIds": dict(self.group_name_ids),
            "users": dict(self.users),
            "unresolvedUsers": list(self.unresolved_users),
            "unresolvedGroups": list(self.unresolved_groups),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NameResolution:
        """Read :meth:`to_json` output back (unknown or malformed parts are dropped)."""
        names = data.get("groupNameIds")
        users = data.get("users")
        return cls(
            allow_from=_entries(data.get("allowFrom")),
            group_allow_from=_entries(data.get("groupAllowFrom")),
            group_name_ids={str(k): str(v) for k, v in names.items()}
            if isinstance(names, Mapping)
            else {},
            users={str(k): str(v) for k, v in users.items()} if isinstance(users, Mapping) else {},
            unresolved_users=tuple(str(u) for u in data.get("unresolvedUsers") or ()),
            unresolved_groups=tuple(str(g) for g in data.get("unresolvedGroups") or ()),
        )

    def apply(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` with the resolved allowlists in place."""
        merged = dict(settings)
        if self.allow_from is not None:
            merged["allowFrom"] = list(self.allow_from)
        if self.group_allow_from is not None:
            merged["groupAllowFrom"] = list(self.group_allow_from)
        return merged


def _entries(value: Any) -> list[str | int] | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, Sequence):
        return [v for v in value if isinstance(v, str | int) and not isinstance(v, bool)]
    return None


def resolution_fingerprint(settings: Mapping[str, Any]) -> str:
    """What a resolution depends on in the config (a saved one is reused only if it matches)."""
    groups = settings.get("groups")
    basis = {
        "allowFrom": [str(e) for e in _entries(settings.get("allowFrom")) or []],
        "groupAllowFrom": [str(e) for e in _entries(settings.get("groupAllowFrom")) or []],
        "groups": sorted(str(k) for k in groups) if isinstance(groups, Mapping) else [],
    }
    return json.dumps(basis, sort_keys=True, ensure_ascii=False)


def _user_index(friends: Sequence[UserProfile]) -> dict[str, str]:
    index: dict[str, str] = {}
    for friend in friends:
        for name in (friend.display_name, friend.zalo_name, friend.uid):
            if name:
                index.setdefault(match_key(name), friend.uid)
    return index


def _merge(
    entries: list[str | int], index: Mapping[str, str]
) -> tuple[list[str | int], dict[str, str], list[str]]:
    merged = list(entries)
    found: dict[str, str] = {}
    missing: list[str] = []
    for entry in entries:
        if is_user_id(entry):
            continue
        name = _strip_user(str(entry))
        uid = index.get(match_key(name))
        if uid is None:
            missing.append(name)
            continue
        found[name] = uid
        if uid not in merged:
            merged.append(uid)
    return merged, found, missing


async def resolve_names(
    api: PersonalApi, settings: Mapping[str, Any], *, account_id: str = "default"
) -> NameResolution:
    """Resolve the names in ``settings`` with the account's friend and group lists.

    Never raises: a failure is logged and the config entries are used unchanged.
    """
    allow = _entries(settings.get("allowFrom"))
    group_allow = _entries(settings.get("groupAllowFrom"))
    groups_raw = settings.get("groups")
    group_keys = [str(k) for k in groups_raw] if isinstance(groups_raw, Mapping) else []
    user_names = [e for e in (allow or []) + (group_allow or []) if not is_user_id(e)]
    group_names = [k for k in group_keys if not is_group_id_key(k)]
    if not user_names and not group_names:
        return NameResolution(allow_from=allow, group_allow_from=group_allow)
    try:
        users: dict[str, str] = {}
        unresolved_users: list[str] = []
        if user_names:
            index = _user_index(await api.friends())
            if allow is not None:
                allow, found, missing = _merge(allow, index)
                users.update(found)
                unresolved_users += missing
                _log_mapping(account_id, "zalouser users", found, missing)
            if group_allow is not None:
                group_allow, found, missing = _merge(group_allow, index)
                users.update(found)
                unresolved_users += [m for m in missing if m not in unresolved_users]
                _log_mapping(account_id, "zalouser group users", found, missing)
        name_ids: dict[str, str] = {}
        unresolved_groups: list[str] = []
        if group_names:
            by_name = _group_index((await api.all_groups()).values())
            for name in group_names:
                group_id = by_name.get(match_key(name))
                if group_id is None:
                    unresolved_groups.append(name)
                else:
                    name_ids[name] = group_id
            _log_mapping(account_id, "zalouser groups", name_ids, unresolved_groups)
    except Exception as exc:
        log.warning(
            "[%s] zalouser resolve failed; using config entries. (%s)",
            account_id,
            type(exc).__name__,
        )
        return NameResolution(
            allow_from=_entries(settings.get("allowFrom")),
            group_allow_from=_entries(settings.get("groupAllowFrom")),
        )
    return NameResolution(
        allow_from=allow,
        group_allow_from=group_allow,
        group_name_ids=name_ids,
        users=users,
        unresolved_users=tuple(unresolved_users),
        unresolved_groups=tuple(unresolved_groups),
    )


def _group_index(groups: Any) -> dict[str, str]:
    index: dict[str, str] = {}
    for group in groups:
        if isinstance(group, GroupInfo) and group.name:
            index.setdefault(match_key(group.name), group.group_id)
    return index


def _log_mapping(
    account_id: str, what: str, found: Mapping[str, str], missing: Sequence[str]
) -> None:
    if found:
        pairs = ", ".join(f"{name}→{value}" for name, value in found.items())
        log.info("[%s] %s resolved: %s", account_id, what, pairs)
    if missing:
        log.warning("[%s] %s unresolved: %s", account_id, what, ", ".join(missing))


def resolution_path(state_dir: Path, account_id: str) -> Path:
    """Where an account's last resolution is saved (``<state>/zalouser/resolved-<id>.json``)."""
    name = urllib.parse.quote(account_id, safe="")
    return state_dir / "zalouser" / f"resolved-{name}.json"


def save_resolution(
    state_dir: Path, account_id: str, settings: Mapping[str, Any], resolution: NameResolution
) -> None:
    """Keep ``resolution`` for the config it was made for (best effort, logged)."""
    path = resolution_path(state_dir, account_id)
    body = {"fingerprint": resolution_fingerprint(settings), "resolution": resolution.to_json()}
    try:
        write_private_file(path, json.dumps(body, ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        log.warning("[%s] could not save the name resolution: %s", account_id, exc)


def load_resolution(
    state_dir: Path, account_id: str, settings: Mapping[str, Any]
) -> NameResolution | None:
    """The resolution saved for this very config, if any (a changed config resolves again)."""
    try:
        data = json.loads(resolution_path(state_dir, account_id).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("resolution"), Mapping):
        return None
    if data.get("fingerprint") != resolution_fingerprint(settings):
        return None
    return NameResolution.from_json(data["resolution"])
