"""Pairing requests and the allow store in a JetStream KV bucket (cluster mode).

One document per channel account (key ``acct.<channel>.<account>``) holds both the account's
pending requests and its allow store, so every rule of :mod:`zalogate.core.pairing` is one
compare-and-set on one key: the per-account cap (3 pending) holds however many nodes issue
codes at once, and of two approvals of one code exactly one finds it pending (the other gets
the same ``No pending pairing request`` error as on one node). The pipeline reads the allow
store with one ``get`` per DM from a sender it does not know from the config.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from zalogate.cluster.documents import Bucket, Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.core.access import WILDCARD, match_key, normalize_allow_entry
from zalogate.core.pairing import (
    MAX_PENDING_PER_ACCOUNT,
    PAIRING_TTL_SECONDS,
    AllowedSender,
    PairingError,
    PairingRequest,
    PairingRequestResult,
    PairingRules,
    generate_code,
    normalize_account_id,
)
from zalogate.core.state_transfer import Outcome

__all__ = ["KvPairingStore"]


def _request(doc: Document, sender_key: str) -> PairingRequest:
    raw = doc["pending"][sender_key]
    return PairingRequest(
        channel=str(doc["channel"]),
        account_id=str(doc["account"]),
        id=str(raw["id"]),
        code=str(raw["code"]),
        created_at_ms=int(raw["created"]),
        last_seen_at_ms=int(raw["seen"]),
        meta={str(k): str(v) for k, v in dict(raw.get("meta") or {}).items()},
    )


def _blank(channel: str, account: str) -> Document:
    return {"channel": channel, "account": account, "pending": {}, "allow": {}}


class KvPairingStore(PairingRules):
    """:class:`~zalogate.core.pairing.PairingStore` on a KV bucket shared by every node."""

    def __init__(
        self,
        bucket: Bucket,
        *,
        clock: Callable[[], float] = time.time,
        ttl_seconds: float = PAIRING_TTL_SECONDS,
        max_pending: int = MAX_PENDING_PER_ACCOUNT,
    ) -> None:
        super().__init__(clock=clock, ttl_seconds=ttl_seconds, max_pending=max_pending)
        self._bucket = bucket
        self._kv = bucket.kv

    def _live(self, doc: Document | None, channel: str, account: str, now: int) -> Document:
        """A copy of ``doc`` (or a blank one) without its expired requests."""
        fresh = _blank(channel, account) if doc is None else {**doc}
        cutoff = now - self._ttl_ms
        pending: dict[str, Any] = dict(fresh.get("pending") or {})
        fresh["pending"] = {k: v for k, v in pending.items() if int(v["created"]) > cutoff}
        fresh["allow"] = dict(fresh.get("allow") or {})
        return fresh

    async def request(
        self,
        channel: str,
        account_id: str,
        sender_id: str,
        *,
        sender_name: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> PairingRequestResult:
        """As :meth:`zalogate.core.pairing.SqlitePairingStore.request`."""
        new = self._new_request(account_id, sender_id, sender_name, meta)
        account, key, now = new.account, new.key, new.now_ms

        def compute(old: Document | None) -> tuple[Document | None, PairingRequestResult]:
            doc = self._live(old, channel, account, now)
            pending = doc["pending"]
            if key in pending:
                pending[key] = {**pending[key], "seen": now}
                return doc, PairingRequestResult(code=str(pending[key]["code"]), created=False)
            if len(pending) >= self._max_pending:
                return None, PairingRequestResult(code=None, created=False, capped=True)
            taken = {str(v["code"]) for v in pending.values()}
            code = generate_code()
            while code in taken:  # pragma: no cover - 32**8 codes
                code = generate_code()
            pending[key] = {"id": new.sender, "code": code, "created": now, "seen": now}
            pending[key]["meta"] = new.meta
            return doc, PairingRequestResult(code=code, created=True)

        return await change(self._kv, kv_key("acct", channel, account), compute)

    async def list_pending(
        self, channel: str | None = None, account_id: str | None = None
    ) -> list[PairingRequest]:
        """Pending requests (expired ones left out), oldest first."""
        now = self._now_ms()
        found: list[PairingRequest] = []
        for key in await self._account_keys(channel, account_id):
            old, _ = await read(self._kv, key)
            if old is None:
                continue
            doc = self._live(old, str(old.get("channel")), str(old.get("account")), now)
            found += [_request(doc, sender) for sender in doc["pending"]]
        found.sort(key=lambda r: (r.created_at_ms, r.channel, r.account_id, match_key(r.id)))
        return found

    async def approve(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Remove the request with ``code`` and allow its sender, in one compare-and-set."""
        return await self._settle(channel, code, account_id, allow=True)

    async def reject(
        self, channel: str, code: str, account_id: str | None = None
    ) -> PairingRequest:
        """Remove the request with ``code`` without allowing its sender."""
        return await self._settle(channel, code, account_id, allow=False)

    async def _settle(
        self, channel: str, code: str, account_id: str | None, *, allow: bool
    ) -> PairingRequest:
        wanted = code.strip().upper()
        now = self._now_ms()
        for key in await self._account_keys(channel, account_id):

            def compute(old: Document | None) -> tuple[Document | None, PairingRequest | None]:
                if old is None:
                    return None, None
                doc = self._live(old, channel, str(old.get("account")), now)
                for sender, raw in doc["pending"].items():
                    if raw["code"] == wanted:
                        request = _request(doc, sender)
                        del doc["pending"][sender]
                        if allow:
                            doc["allow"].setdefault(_allow_entry(channel, request.id), now)
                        return doc, request
                return None, None

            settled = await change(self._kv, key, compute)
            if settled is not None:
                return settled
        raise PairingError(f"No pending pairing request found for code: {wanted}")

    async def _account_keys(self, channel: str | None, account_id: str | None) -> list[str]:
        if channel is not None and account_id is not None:
            return [kv_key("acct", channel, normalize_account_id(account_id))]
        prefix = kv_key("acct", channel) + "." if channel is not None else "acct."
        found = await self._bucket.keys(prefix)
        if account_id is None:
            return found
        account = kv_key(normalize_account_id(account_id))
        return [k for k in found if k.rsplit(".", 1)[-1] == account]

    async def allowed_senders(self, channel: str, account_id: str) -> frozenset[str]:
        """The normalised sender ids approved for ``channel``'s ``account_id``."""
        doc, _ = await read(self._kv, kv_key("acct", channel, normalize_account_id(account_id)))
        return frozenset(dict((doc or {}).get("allow") or {}))

    async def add_allowed(self, channel: str, account_id: str, sender_id: str) -> None:
        """Add a sender to an account's allow store (idempotent)."""
        account = normalize_account_id(account_id)
        entry = _allow_entry(channel, sender_id)
        now = self._now_ms()

        def compute(old: Document | None) -> tuple[Document | None, None]:
            doc = self._live(old, channel, account, now)
            if entry in doc["allow"]:
                return None, None
            doc["allow"][entry] = now
            return doc, None

        await change(self._kv, kv_key("acct", channel, account), compute)

    async def remove_allowed(self, channel: str, account_id: str, sender_id: str) -> bool:
        """Remove a sender from an account's allow store; True when it was there."""
        account = normalize_account_id(account_id)
        entry = normalize_allow_entry(channel, sender_id)
        now = self._now_ms()

        def compute(old: Document | None) -> tuple[Document | None, bool]:
            doc = self._live(old, channel, account, now)
            if doc["allow"].pop(entry, None) is None:
                return None, False
            return doc, True

        return await change(self._kv, kv_key("acct", channel, account), compute)

    async def adopt_allowed(self, sender: AllowedSender, *, dry_run: bool) -> Outcome:
        """Add a moved allow entry (with its original time) unless the account has it."""
        account = normalize_account_id(sender.account_id)
        now = self._now_ms()

        def compute(old: Document | None) -> tuple[Document | None, Outcome]:
            doc = self._live(old, sender.channel, account, now)
            if sender.entry in doc["allow"]:
                return None, Outcome.PRESENT
            doc["allow"][sender.entry] = sender.added_at_ms
            return (None if dry_run else doc), Outcome.MOVED

        return await change(self._kv, kv_key("acct", sender.channel, account), compute)

    async def adopt_request(self, request: PairingRequest, *, dry_run: bool) -> Outcome:
        """Keep a moved pending request with its code (the sender has it already)."""
        account = normalize_account_id(request.account_id)
        key = match_key(request.id)
        now = self._now_ms()
        item = {
            "id": request.id,
            "code": request.code,
            "created": request.created_at_ms,
            "seen": request.last_seen_at_ms,
            "meta": dict(request.meta),
        }

        def compute(old: Document | None) -> tuple[Document | None, Outcome]:
            doc = self._live(old, request.channel, account, now)
            pending = doc["pending"]
            if key in pending:
                same = pending[key].get("code") == request.code
                return None, (Outcome.PRESENT if same else Outcome.CONFLICT)
            if normalize_allow_entry(request.channel, request.id) in doc["allow"]:
                return None, Outcome.PRESENT  # approved in the cluster since
            taken = any(v.get("code") == request.code for v in pending.values())
            if taken or len(pending) >= self._max_pending:
                return None, Outcome.CONFLICT
            pending[key] = item
            return (None if dry_run else doc), Outcome.MOVED

        return await change(self._kv, kv_key("acct", request.channel, account), compute)


def _allow_entry(channel: str, sender_id: str) -> str:
    entry = normalize_allow_entry(channel, sender_id)
    if not entry or entry == WILDCARD:
        raise PairingError("the pairing allow store holds sender ids only (no '*')")
    return entry
