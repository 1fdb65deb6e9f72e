"""DM pairing: one-time codes that let the operator admit an unknown sender.

An unknown sender under ``dmPolicy: pairing`` gets a code once; the operator runs
``zalogate pairing approve <channel> <CODE>``, which moves the sender into the account's allow
store. Rules:

* codes are 8 characters from ``ABCDEFGHJKLMNPQRSTUVWXYZ23456789`` (cryptographic RNG),
  unique among pending requests, and expire 1 hour after creation;
* at most 3 requests are pending per channel account; further senders are ignored silently;
* a sender whose request is pending gets no second message (``created`` is False);
* approval matches the code case-insensitively and adds the sender to the allow store of the
  request's account; approvals never leak between accounts and never grant group access.

:class:`PairingStore` is the seam (an async protocol: its callers are the pipeline, channels,
console and CLI, all async). :class:`SqlitePairingStore` is the single-node implementation:
both tables live in the shared SQLite store (migrations ``0010_pairing`` and
``0011_allow_store``) and every change runs in one writer transaction, so concurrent requests
cannot exceed the cap or hand out the same code twice. In cluster mode the runtime picks
``zalogate.cluster.shared.KvPairingStore`` (JetStream KV, compare-and-set) instead.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from zalogate.core.access import WILDCARD, match_key, normalize_allow_entry
from zalogate.store import Store

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "DEFAULT_ACCOUNT_ID",
    "MAX_PENDING_PER_ACCOUNT",
    "PAIRING_TTL_SECONDS",
    "AllowStore",
    "AllowedSender",
    "NewRequest",
    "PairingError",
    "PairingNotifier",
    "PairingRequest",
    "PairingRequestResult",
    "PairingRules",
    "PairingStore",
    "SqlitePairingStore",
    "generate_code",
    "issue_pairing_challenge",
    "normalize_account_id",
    "pairing_approved_text",
    "pairing_challenge_text",
]

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
PAIRING_TTL_SECONDS = 60 * 60
MAX_PENDING_PER_ACCOUNT = 3
DEFAULT_ACCOUNT_ID = "default"
_CODE_TRIES = 500


class PairingError(Exception):
    """A pairing operation failed (unknown or expired code, unusable entry)."""


def normalize_account_id(account_id: str | None) -> str:
    """Account ids are compared trimmed and lower-cased; blank means ``default``."""
    text = (account_id or "").strip().lower()
    return text or DEFAULT_ACCOUNT_ID


def generate_code() -> str:
    """A fresh pairing code from the cryptographic RNG."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _iso(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class PairingRequest:
    """One pending (or just approved) pairing request.

    ``id`` is the sender's id as the channel reported it; ``meta`` always holds ``accountId``
    and holds ``name`` when the sender's display name was known.
    """

    channel: str
    account_id: str
    id: str
    code: str
    created_at_ms: int
    last_seen_at_ms: int
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def created_at(self) -> str:
        """Creation time, ISO-8601 UTC."""
        return _iso(self.created_at_ms)

    @property
    def last_seen_at(self) -> str:
        """Time of the sender's latest message, ISO-8601 UTC."""
        return _iso(self.last_seen_at_ms)

    def to_json(self) -> dict[str, object]:
        """The request as ``pairing list --json`` prints it."""
        return {
            "id": self.id,
            "code": self.code,
            "createdAt": self.created_at,
            "lastSeenAt": self.last_seen_at,
            "meta": dict(self.meta),
        }


@dataclass(frozen=True, slots=True)
class AllowedSender:
    """One entry of an account's allow store (normalised, as stored)."""

    channel: str
    account_id: str
    entry: str
    added_at_ms: int


@dataclass(frozen=True, slots=True)
class PairingRequestResult:
    """The outcome of :meth:`PairingStore.request`.

    ``created`` True: a new code was issued; send the challenge. ``created`` False with a
    ``code``: the sender's request is pending already; send nothing. ``capped`` True: the
    account has the maximum of pending requests; the sender is ignored (``code`` is None).
    """

    code: str | None
    created: bool
    capped: bool = False


class PairingNotifier(Protocol):
    """Sends the approval message to a newly approved sender (``pairing approve --notify``)."""

    async def __call__(self, channel: str, account_id: str, sender_id: str, text: str, /) -> None:
        """Deliver ``text`` to ``sender_id`` through ``channel``'s ``account_id``."""
        ...


class AllowStore(Protocol):
    """The per-account allow store: senders admitted by pairing (or by the console)."""

    async def allowed_senders(self, channel: str, account_id: str) -> frozenset[str]:
        """The normalised sender ids approved for ``channel``'s ``account_id``."""
        ...

    async def add_allowed(self, channel: str, account_id: str, sender_id: str) -> None:
        """Add a sender (idempotent); :class:`PairingError` for an empty id or ``*``."""
        ...

    async def remove_allowed(self, channel: str, account_id: str, sender_id: str) -> bool:
        """Remove a sender; True when it was there."""
        ...


class PairingStore(AllowStore, Protocol):
    """Pairing requests and the allow store they feed (see the module's rules)."""

    async def request(
        self,
        channel: str,
        account_id: str,
        sender_id: str,
        *,
        sender_name: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> PairingRequestResult:
        """Create or refresh the pairing request of an unknown DM sender."""
        ...

    async def list_pending(
        self, channel: str | None = None, account_id: str | None = None
    ) -> list[PairingRequest]:
        """Pending requests (expired ones pruned), oldest first."""
        ...

    async def approve(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Remove the request with ``code`` and allow its sender; :class:`PairingError` when
        no such request is pending (so of two approvals of one code, one fails)."""
        ...

    async def reject(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Remove the request with ``code`` without allowing its sender; :class:`PairingError`
        when no such request is pending."""
        ...


def _row_to_request(row: sqlite3.Row) -> PairingRequest:
    try:
        meta_raw = json.loads(row["meta_json"])
    except ValueError:
        meta_raw = {}
    meta = {str(k): str(v) for k, v in meta_raw.items()} if isinstance(meta_raw, dict) else {}
    return PairingRequest(
        channel=row["channel"],
        account_id=row["account_id"],
        id=row["sender_id"],
        code=row["code"],
        created_at_ms=int(row["created_at_ms"]),
        last_seen_at_ms=int(row["last_seen_at_ms"]),
        meta=meta,
    )


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request as a store records it: normalised account, trimmed sender id, its match key,
    the meta (``accountId``, and ``name`` when known), and the time in ms."""

    account: str
    sender: str
    key: str
    meta: dict[str, str]
    now_ms: int


class PairingRules:
    """The clock, request lifetime and per-account cap every pairing store applies."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ttl_seconds: float = PAIRING_TTL_SECONDS,
        max_pending: int = MAX_PENDING_PER_ACCOUNT,
    ) -> None:
        self._clock = clock
        self._ttl_ms = int(ttl_seconds * 1000)
        self._max_pending = max_pending

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _new_request(
        self,
        account_id: str,
        sender_id: str,
        sender_name: str | None,
        meta: Mapping[str, str] | None,
    ) -> NewRequest:
        """The normalised parts of a request; :class:`PairingError` without a sender id."""
        account = normalize_account_id(account_id)
        sender = sender_id.strip()
        if not sender:
            raise PairingError("a pairing request needs a sender id")
        merged: dict[str, str] = {str(k): str(v) for k, v in (meta or {}).items() if v}
        if sender_name and sender_name.strip():
            merged["name"] = sender_name.strip()
        merged["accountId"] = account
        return NewRequest(account, sender, match_key(sender), merged, self._now_ms())


class SqlitePairingStore(PairingRules):
    """:class:`PairingStore` on the node's SQLite :class:`Store` (the single-node mode)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        ttl_seconds: float = PAIRING_TTL_SECONDS,
        max_pending: int = MAX_PENDING_PER_ACCOUNT,
    ) -> None:
        super().__init__(clock=clock, ttl_seconds=ttl_seconds, max_pending=max_pending)
        self._store = store

    def _prune(self, conn: sqlite3.Connection, now_ms: int, channel: str | None = None) -> None:
        cutoff = now_ms - self._ttl_ms
        if channel is None:
            conn.execute("DELETE FROM pairing_requests WHERE created_at_ms <= ?", (cutoff,))
        else:
            conn.execute(
                "DELETE FROM pairing_requests WHERE channel = ? AND created_at_ms <= ?",
                (channel, cutoff),
            )

    async def request(
        self,
        channel: str,
        account_id: str,
        sender_id: str,
        *,
        sender_name: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> PairingRequestResult:
        """Create or refresh the pairing request of an unknown DM sender.

        Returns:
            See :class:`PairingRequestResult`: send the challenge only when ``created``.
        """
        new = self._new_request(account_id, sender_id, sender_name, meta)
        account, sender, key, now = new.account, new.sender, new.key, new.now_ms
        meta_json = json.dumps(new.meta, ensure_ascii=False, sort_keys=True)

        def upsert(conn: sqlite3.Connection) -> PairingRequestResult:
            self._prune(conn, now, channel)
            row = conn.execute(
                "SELECT code FROM pairing_requests"
                " WHERE channel = ? AND account_id = ? AND sender_key = ?",
                (channel, account, key),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE pairing_requests SET last_seen_at_ms = ?"
                    " WHERE channel = ? AND account_id = ? AND sender_key = ?",
                    (now, channel, account, key),
                )
                return PairingRequestResult(code=str(row["code"]), created=False)
            pending = conn.execute(
                "SELECT sender_key FROM pairing_requests WHERE channel = ? AND account_id = ?"
                " ORDER BY last_seen_at_ms DESC, created_at_ms DESC",
                (channel, account),
            ).fetchall()
            if len(pending) > self._max_pending:
                # Keep only the most recently seen ones (a lowered cap, or rows from elsewhere).
                conn.executemany(
                    "DELETE FROM pairing_requests"
                    " WHERE channel = ? AND account_id = ? AND sender_key = ?",
                    [(channel, account, r["sender_key"]) for r in pending[self._max_pending :]],
                )
            if len(pending) >= self._max_pending:
                return PairingRequestResult(code=None, created=False, capped=True)
            for _ in range(_CODE_TRIES):
                code = generate_code()
                taken = conn.execute(
                    "SELECT 1 FROM pairing_requests WHERE code = ?", (code,)
                ).fetchone()
                if taken is None:
                    break
            else:  # pragma: no cover - 32**8 codes make this practically impossible
                raise PairingError("could not generate a unique pairing code")
            conn.execute(
                "INSERT INTO pairing_requests(channel, account_id, sender_key, sender_id, code,"
                " created_at_ms, last_seen_at_ms, meta_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (channel, account, key, sender, code, now, now, meta_json),
            )
            return PairingRequestResult(code=code, created=True)

        return await self._store.write(upsert)

    async def list_pending(
        self, channel: str | None = None, account_id: str | None = None
    ) -> list[PairingRequest]:
        """Pending requests (expired ones are pruned first), oldest first."""
        now = self._now_ms()
        account = normalize_account_id(account_id) if account_id is not None else None

        def load(conn: sqlite3.Connection) -> list[PairingRequest]:
            self._prune(conn, now, channel)
            sql = "SELECT * FROM pairing_requests WHERE 1 = 1"
            params: list[str] = []
            if channel is not None:
                sql += " AND channel = ?"
                params.append(channel)
            if account is not None:
                sql += " AND account_id = ?"
                params.append(account)
            sql += " ORDER BY created_at_ms, channel, account_id, sender_key"
            return [_row_to_request(row) for row in conn.execute(sql, params)]

        return await self._store.write(load)

    async def approve(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Approve the pending request with ``code`` (case-insensitive).

        The request is removed and its sender added to the allow store of the request's
        account (or of ``account_id`` when given, which must then match the request).

        Raises:
            PairingError: ``No pending pairing request found for code: <CODE>``.
        """
        return await self._close_request(channel, code, account_id, allow=True)

    def _take_pending(
        self, conn: sqlite3.Connection, channel: str, code: str, account: str | None, now: int
    ) -> sqlite3.Row:
        """Remove and return the pending request with ``code`` (in the caller's write)."""
        self._prune(conn, now, channel)
        sql = "SELECT * FROM pairing_requests WHERE channel = ? AND code = ?"
        params = [channel, code]
        if account is not None:
            sql += " AND account_id = ?"
            params.append(account)
        row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
        if row is None:
            raise PairingError(f"No pending pairing request found for code: {code}")
        conn.execute(
            "DELETE FROM pairing_requests WHERE channel = ? AND account_id = ? AND sender_key = ?",
            (channel, row["account_id"], row["sender_key"]),
        )
        return row

    async def reject(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Drop the pending request with ``code`` (case-insensitive) without approving it;
        the sender is not allowed and may ask again (a new code) later.

        Raises:
            PairingError: ``No pending pairing request found for code: <CODE>``.
        """
        return await self._close_request(channel, code, account_id, allow=False)

    async def _close_request(
        self, channel: str, code: str, account_id: str | None, *, allow: bool
    ) -> PairingRequest:
        wanted = code.strip().upper()
        now = self._now_ms()
        account = normalize_account_id(account_id) if account_id is not None else None

        def apply(conn: sqlite3.Connection) -> PairingRequest:
            request = _row_to_request(self._take_pending(conn, channel, wanted, account, now))
            if allow:
                self._insert_allowed(conn, channel, request.account_id, request.id, now)
            return request

        return await self._store.write(apply)

    @staticmethod
    def _insert_allowed(
        conn: sqlite3.Connection, channel: str, account: str, sender_id: str, now_ms: int
    ) -> None:
        entry = normalize_allow_entry(channel, sender_id)
        if not entry or entry == WILDCARD:
            raise PairingError("the pairing allow store holds sender ids only (no '*')")
        conn.execute(
            "INSERT OR IGNORE INTO pairing_allow_entries(channel, account_id, entry, added_at_ms)"
            " VALUES (?, ?, ?, ?)",
            (channel, account, entry, now_ms),
        )

    async def allowed_senders(self, channel: str, account_id: str) -> frozenset[str]:
        """The normalised sender ids approved for ``channel``'s ``account_id``."""
        account = normalize_account_id(account_id)
        rows = await self._store.fetchall(
            "SELECT entry FROM pairing_allow_entries WHERE channel = ? AND account_id = ?",
            (channel, account),
        )
        return frozenset(str(row["entry"]) for row in rows)

    async def allowed_entries(self) -> list[AllowedSender]:
        """Every account's allow store (what a move into a cluster carries over)."""
        rows = await self._store.fetchall(
            "SELECT channel, account_id, entry, added_at_ms FROM pairing_allow_entries"
            " ORDER BY channel, account_id, added_at_ms, entry"
        )
        return [
            AllowedSender(r["channel"], r["account_id"], r["entry"], int(r["added_at_ms"]))
            for r in rows
        ]

    async def add_allowed(self, channel: str, account_id: str, sender_id: str) -> None:
        """Add a sender to an account's allow store (idempotent).

        Raises:
            PairingError: ``sender_id`` is empty or ``*``.
        """
        account = normalize_account_id(account_id)
        now = self._now_ms()
        await self._store.write(
            lambda conn: self._insert_allowed(conn, channel, account, sender_id, now)
        )

    async def remove_allowed(self, channel: str, account_id: str, sender_id: str) -> bool:
        """Remove a sender from an account's allow store; True when it was there."""
        account = normalize_account_id(account_id)
        entry = normalize_allow_entry(channel, sender_id)
        changed = await self._store.execute(
            "DELETE FROM pairing_allow_entries WHERE channel = ? AND account_id = ? AND entry = ?",
            (channel, account, entry),
        )
        return changed > 0


def pairing_challenge_text(channel: str, sender_id: str, code: str) -> str:
    """The message an unknown sender gets: their id, the code and the approve command."""
    return (
        "zalogate: access not configured.\n"
        "\n"
        f"Your Zalo user id: {sender_id}\n"
        "\n"
        f"Pairing code: {code}\n"
        "\n"
        "Ask the bot owner to approve with:\n"
        f"zalogate pairing approve {channel} {code}"
    )


def pairing_approved_text(channel: str) -> str:
    """The confirmation sent to an approved sender (``pairing approve --notify``)."""
    del channel  # the same text for both Zalo channels
    return "Your pairing request has been approved."


async def issue_pairing_challenge(
    pairing: PairingStore,
    channel: str,
    account_id: str,
    sender_id: str,
    *,
    send: Callable[[str], Awaitable[object]],
    sender_name: str | None = None,
    meta: Mapping[str, str] | None = None,
    on_send_error: Callable[[BaseException], None] | None = None,
) -> PairingRequestResult:
    """Record the request of an unknown DM sender and send the challenge once.

    The challenge text goes out through ``send`` only when a new request was created, so a
    replayed message or a repeated DM never triggers a second message, even when the first
    send failed. A send failure is logged and handed to ``on_send_error``; it is never raised.
    """
    result = await pairing.request(
        channel, account_id, sender_id, sender_name=sender_name, meta=meta
    )
    if not result.created or result.code is None:
        return result
    try:
        await send(pairing_challenge_text(channel, sender_id, result.code))
    except Exception as exc:
        log.warning(
            "%s: could not send the pairing code to %s: %s", channel, sender_id, type(exc).__name__
        )
        if on_send_error is not None:
            on_send_error(exc)
    return result
