"""Reading an OpenClaw state dir, read-only: its config, pairing stores and saved Zalo sessions.

Where OpenClaw keeps them (2026.9.x, checked against a state dir its own CLI wrote, see
``tests/fixtures/openclaw/make_fixture.sh``):

* the config: ``openclaw.json`` (JSON5) in the state dir, or ``$OPENCLAW_CONFIG_PATH``;
* pairing: the SQLite file ``state/openclaw.sqlite``, tables ``channel_pairing_requests`` and
  ``channel_pairing_allow_entries``; before that, JSON files in ``credentials/``
  (``<channel>-pairing.json``, ``<channel>-<account>-allowFrom.json`` and the default
  account's legacy ``<channel>-allowFrom.json``);
* the zalouser plugin's sessions: rows of ``plugin_state_entries`` (plugin ``zalouser``,
  namespace ``credentials``), before that ``credentials/zalouser/credentials[-<profile>].json``
  (``openclaw doctor --fix`` moves those into SQLite and renames them ``*.migrated``).

Nothing here writes: the database is opened with ``mode=ro``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from zalogate.config.loading import read_json5_object

__all__ = [
    "OpenClawSource",
    "PendingRequest",
    "SavedSession",
    "SourceError",
    "default_openclaw_dir",
    "read_openclaw",
]

_DB = Path("state") / "openclaw.sqlite"
_CONFIG_NAME = "openclaw.json"
_SESSION_PLUGIN = "zalouser"
_SESSION_NAMESPACE = "credentials"


class SourceError(Exception):
    """The OpenClaw dir or one of its files cannot be read (one line, names the path)."""


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A DM pairing request not approved yet."""

    channel: str
    account_id: str
    sender_id: str
    code: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class SavedSession:
    """A saved Zalo login of the zalouser plugin (the values are a live login: never print)."""

    profile: str
    data: Mapping[str, Any] = field(repr=False)
    origin: str
    revoked: bool = False


@dataclass(slots=True)
class OpenClawSource:
    """Everything read from one OpenClaw state dir."""

    root: Path
    config_file: Path
    config: dict[str, Any]
    allow: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    pending: list[PendingRequest] = field(default_factory=list)
    sessions: dict[str, SavedSession] = field(default_factory=dict)
    version: str | None = None


def default_openclaw_dir(env: Mapping[str, str]) -> Path:
    """``$OPENCLAW_STATE_DIR``, else ``~/.openclaw``."""
    configured = env.get("OPENCLAW_STATE_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".openclaw"


def read_openclaw(root: Path, env: Mapping[str, str], *, explicit: bool) -> OpenClawSource:
    """Read the config, the pairing stores and the saved sessions under ``root``.

    ``$OPENCLAW_CONFIG_PATH`` names the config only when ``root`` was not given (``explicit``).

    Raises:
        SourceError: ``root`` or its config is missing or unreadable.
    """
    if not root.is_dir():
        raise SourceError(f"no OpenClaw state dir at {root} (give it with --from DIR)")
    override = "" if explicit else env.get("OPENCLAW_CONFIG_PATH", "").strip()
    config_file = Path(override).expanduser() if override else root / _CONFIG_NAME
    config = _read_config(config_file)
    meta = config.get("meta")
    version = meta.get("lastTouchedVersion") if isinstance(meta, dict) else None
    source = OpenClawSource(
        root=root,
        config_file=config_file,
        config=config,
        version=version if isinstance(version, str) else None,
    )
    _read_legacy_pairing(root / "credentials", source)
    _read_legacy_sessions(root / "credentials" / _SESSION_PLUGIN, source)
    db = root / _DB
    if db.is_file():
        _read_database(db, source)
    return source


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return read_json5_object(path)
    except FileNotFoundError:
        raise SourceError(f"no OpenClaw config at {path}") from None
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None


def _add_allow(source: OpenClawSource, channel: str, account: str, entries: Any) -> None:
    if not isinstance(entries, list):
        return
    kept = source.allow.setdefault((channel, account), [])
    for entry in entries:
        text = str(entry).strip()
        if text and text not in kept:
            kept.append(text)


def _iso_ms(value: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _read_legacy_pairing(folder: Path, source: OpenClawSource) -> None:
    """The JSON-era stores (``<channel>-pairing.json``, ``<channel>-<account>-allowFrom.json``)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*-allowFrom.json")):
        stem = path.name.removesuffix("-allowFrom.json")
        channel, _, account = stem.partition("-")
        data = _read_json(path)
        if isinstance(data, dict):
            _add_allow(source, channel, account or "default", data.get("allowFrom"))
    for path in sorted(folder.glob("*-pairing.json")):
        channel = path.name.removesuffix("-pairing.json")
        data = _read_json(path)
        requests = data.get("requests") if isinstance(data, dict) else None
        for item in requests if isinstance(requests, list) else []:
            if not isinstance(item, dict) or not item.get("id") or not item.get("code"):
                continue
            meta = item.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            source.pending.append(
                PendingRequest(
                    channel=channel,
                    account_id=str(meta.get("accountId") or "default"),
                    sender_id=str(item["id"]),
                    code=str(item["code"]),
                    created_at_ms=_iso_ms(item.get("createdAt")),
                )
            )


def _read_legacy_sessions(folder: Path, source: OpenClawSource) -> None:
    """``credentials.json`` (profile ``default``) and ``credentials-<profile>.json``."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("credentials*.json")):
        if path.name == "credentials.json":
            profile = "default"
        elif path.name.startswith("credentials-"):
            profile = urllib.parse.unquote(path.name.removeprefix("credentials-")[:-5])
        else:
            continue
        data = _read_json(path)
        if isinstance(data, dict):
            source.sessions[profile.lower()] = SavedSession(profile.lower(), data, str(path))


@contextlib.contextmanager
def _read_only(db: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open {db}: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _read_database(db: Path, source: OpenClawSource) -> None:
    """The SQLite-era stores; they win over the JSON files they replaced."""
    try:
        with _read_only(db) as conn:
            tables = _tables(conn)
            if "channel_pairing_allow_entries" in tables:
                rows = conn.execute(
                    "SELECT channel_key, account_id, entry FROM channel_pairing_allow_entries"
                    " ORDER BY channel_key, account_id, sort_order"
                ).fetchall()
                for channel, account, entry in rows:
                    _add_allow(source, str(channel), str(account or "default"), [entry])
            if "channel_pairing_requests" in tables:
                rows = conn.execute(
                    "SELECT channel_key, account_id, request_id, code, created_at"
                    " FROM channel_pairing_requests ORDER BY created_at"
                ).fetchall()
                for channel, account, sender, code, created in rows:
                    source.pending.append(
                        PendingRequest(
                            str(channel),
                            str(account or "default"),
                            str(sender),
                            str(code),
                            _iso_ms(created),
                        )
                    )
            if "plugin_state_entries" in tables:
                rows = conn.execute(
                    "SELECT value_json FROM plugin_state_entries"
                    " WHERE plugin_id = ? AND namespace = ?",
                    (_SESSION_PLUGIN, _SESSION_NAMESPACE),
                ).fetchall()
                for (value,) in rows:
                    _add_session(source, value, f"{db} (plugin state)")
    except sqlite3.Error as exc:
        raise SourceError(f"cannot read {db}: {exc}") from None


def _add_session(source: OpenClawSource, raw: Any, origin: str) -> None:
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return
    if not isinstance(data, dict):
        return
    profile = str(data.get("profile") or "default").strip().lower() or "default"
    revoked = data.get("kind") == "revoked"
    source.sessions[profile] = SavedSession(profile, data, origin, revoked=revoked)
