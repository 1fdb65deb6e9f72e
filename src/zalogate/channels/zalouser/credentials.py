"""Saved Zalo sessions, one JSON file per credential profile.

``<state_dir>/credentials/zalouser/<profile>.json`` (folders 0700, file 0600, written
atomically); the profile name is lower-cased and percent-encoded, so ``team/a`` and ``..``
stay inside the folder. The file holds what a cookie login needs (imei, the cookie jar, user
agent, language) plus display facts (``uid``, ``displayName``) and ``createdAt`` /
``lastUsedAt`` (ISO 8601). The cookie values are a live login: they never reach a log line.

Refreshed cookies are written back (:meth:`CredentialStore.refresh`) only when the jar really
changed (order does not count) or when the caller marks a use; read-only lookups never write.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zalogate.personal.session import Credentials
from zalogate.store import ensure_private_dir, write_private_file

__all__ = ["CredentialFileError", "CredentialStore", "StoredCredentials", "cookie_signature"]

log = logging.getLogger(__name__)


class CredentialFileError(ValueError):
    """A credentials file exists but cannot be used (not JSON, wrong shape, a symlink)."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cookie_signature(credentials: Credentials) -> tuple[tuple[str, str, str, str], ...]:
    """An order-insensitive view of the jar (name, domain, path, value)."""
    return tuple(
        sorted(
            (
                str(c.get("key", "")),
                str(c.get("domain", "")),
                str(c.get("path", "/")),
                str(c.get("value", "")),
            )
            for c in credentials.cookies
        )
    )


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """The content of one credentials file."""

    profile: str
    credentials: Credentials = field(repr=False)
    created_at: str
    last_used_at: str | None = None
    uid: str | None = None
    display_name: str | None = None


class CredentialStore:
    """Reads and writes the credential files of the ``zalouser`` channel.

    Args:
        state_dir: The gateway's state dir.
    """

    def __init__(self, state_dir: Path, *, on_change: Callable[[str], None] | None = None) -> None:
        self.root = Path(state_dir) / "credentials" / "zalouser"
        self.on_change = on_change or (lambda _profile: None)
        """Told the profile after each save or delete (a cluster shares the session)."""

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.root)!r})"

    def path(self, profile: str) -> Path:
        """The file of ``profile``."""
        name = urllib.parse.quote(profile.strip().lower() or "default", safe="")
        return self.root / f"{name}.json"

    def exists(self, profile: str) -> bool:
        """True when a credentials file exists for ``profile``."""
        return self.path(profile).is_file()

    def load(self, profile: str) -> StoredCredentials | None:
        """The saved session of ``profile``, or None when there is none.

        Raises:
            CredentialFileError: The file exists but is unusable (the message names the path
                and the key, never a value).
        """
        path = self.path(profile)
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            raise CredentialFileError(f"{path}: refusing a symlinked credentials file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialFileError(f"{path}: cannot read ({type(exc).__name__})") from None
        except json.JSONDecodeError as exc:
            raise CredentialFileError(f"{path}: not JSON (line {exc.lineno})") from None
        try:
            credentials = Credentials.from_json(data)
        except ValueError as exc:
            raise CredentialFileError(f"{path}: {exc}") from None
        if info.st_mode & 0o077:
            # Written by another tool with a loose umask: tighten it, the cookies are a login.
            os.chmod(path, 0o600)
        meta: Mapping[str, Any] = data
        return StoredCredentials(
            profile=str(meta.get("profile") or profile),
            credentials=credentials,
            created_at=str(meta.get("createdAt") or _now_iso()),
            last_used_at=_opt(meta.get("lastUsedAt")),
            uid=_opt(meta.get("uid")),
            display_name=_opt(meta.get("displayName")),
        )

    def save(
        self,
        profile: str,
        credentials: Credentials,
        *,
        uid: str | None = None,
        display_name: str | None = None,
        created_at: str | None = None,
        used: bool = True,
    ) -> Path:
        """Write ``credentials`` for ``profile`` (0600, atomically); return the path."""
        ensure_private_dir(self.root.parent)
        ensure_private_dir(self.root)
        body: dict[str, Any] = {
            "profile": profile,
            **credentials.to_json(),
            "createdAt": created_at or _now_iso(),
        }
        if used:
            body["lastUsedAt"] = _now_iso()
        if uid:
            body["uid"] = uid
        if display_name:
            body["displayName"] = display_name
        path = self.path(profile)
        write_private_file(path, json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))
        self.on_change(profile)
        return path

    def refresh(
        self,
        profile: str,
        credentials: Credentials,
        *,
        touch: bool = False,
        uid: str | None = None,
        display_name: str | None = None,
    ) -> bool:
        """Write back a jar the session refreshed; True when the file was written.

        Writes when the cookies (in any order), imei or user agent changed, or when ``touch``
        (a successful restore: ``lastUsedAt`` moves); keeps ``createdAt``.
        """
        try:
            stored = self.load(profile)
        except CredentialFileError:
            stored = None
        if stored is not None:
            same = (
                cookie_signature(stored.credentials) == cookie_signature(credentials)
                and stored.credentials.imei == credentials.imei
                and stored.credentials.user_agent == credentials.user_agent
            )
            if same and not touch:
                return False
        self.save(
            profile,
            credentials,
            uid=uid or (stored.uid if stored else None),
            display_name=display_name or (stored.display_name if stored else None),
            created_at=stored.created_at if stored else None,
            used=touch or stored is None or stored.last_used_at is not None,
        )
        return True

    def delete(self, profile: str) -> bool:
        """Remove the file of ``profile``; True when there was one."""
        try:
            self.path(profile).unlink()
        except FileNotFoundError:
            return False
        self.on_change(profile)
        return True


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
