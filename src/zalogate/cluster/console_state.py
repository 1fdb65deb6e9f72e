"""The console's data in JetStream KV (cluster mode): allowlist edits and sessions.

* :class:`KvAccessOverlayStore`: one document per channel account (``acct.<channel>.<account>``)
  holding its edits, changed with compare-and-set; after each change it publishes on the
  cluster's ``access`` subject so that every node reloads its in-memory overlays
  (:class:`ChangeFeed` runs the reload, also after a reconnect and every
  :data:`RELOAD_EVERY_S` seconds, so a missed notification delays an edit, never loses it).
* :class:`KvSessionStore`: ``s.<sha256 of the cookie>`` → csrf, language, expiry, in a bucket
  whose max age is the session lifetime; the console reads it on every request (``shared``),
  so a login or a logout on one node holds on every node behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js.errors import KeyNotFoundError

from zalogate.cluster.documents import Bucket, Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.core.access import AccessOverlay, OverlayEntry, OverlayList
from zalogate.core.pairing import normalize_account_id
from zalogate.core.state_transfer import Outcome, OverlayEdit

if TYPE_CHECKING:
    from zalogate.console.auth import Session
    from zalogate.console.sessions import SessionRecord

__all__ = ["RELOAD_EVERY_S", "ChangeFeed", "KvAccessOverlayStore", "KvSessionStore"]

log = logging.getLogger("zalogate.cluster")

RELOAD_EVERY_S = 30.0
"""A node reloads the overlays at least this often (the safety net for a lost notification)."""

Notify = Callable[[], Awaitable[None]]


class KvAccessOverlayStore:
    """:class:`~zalogate.core.access_overlay.AccessOverlayStore` on a KV bucket.

    Args:
        bucket: The ``<prefix>_access`` bucket.
        notify: Called after each change (publishes the "reload" notification).
    """

    def __init__(self, bucket: Bucket, notify: Notify | None = None) -> None:
        self.bucket = bucket
        """The bucket (a test writes to it without announcing)."""
        self._notify = notify

    async def load_all(self) -> Mapping[tuple[str, str], AccessOverlay]:
        found: dict[tuple[str, str], AccessOverlay] = {}
        for name in await self.bucket.keys("acct."):
            doc, _ = await read(self.bucket.kv, name)
            if doc is None or not doc.get("entries"):
                continue
            entries = (OverlayEntry(k, e, bool(b), int(at)) for k, e, b, at in doc["entries"])
            found[(doc["channel"], doc["account"])] = AccessOverlay(
                tuple(sorted(entries, key=lambda x: (x.added_at_ms, x.entry)))
            )
        return found

    async def put(self, channel: str, account_id: str, entry: OverlayEntry) -> None:
        item = [entry.kind, entry.entry, entry.blocked, entry.added_at_ms]

        def compute(old: Document | None) -> tuple[Document | None, None]:
            kept = [e for e in _entries(old) if (e[0], e[1]) != (entry.kind, entry.entry)]
            return self._document(channel, account_id, [*kept, item]), None

        await change(self.bucket.kv, self._key(channel, account_id), compute)
        await self._announce()

    async def delete(self, channel: str, account_id: str, name: OverlayList, entry: str) -> bool:
        def compute(old: Document | None) -> tuple[Document | None, bool]:
            entries = _entries(old)
            kept = [e for e in entries if (e[0], e[1]) != (name, entry)]
            if len(kept) == len(entries):
                return None, False
            return self._document(channel, account_id, kept), True

        removed = await change(self.bucket.kv, self._key(channel, account_id), compute)
        if removed:
            await self._announce()
        return removed

    async def adopt_edit(self, edit: OverlayEdit, *, dry_run: bool) -> Outcome:
        """Record a moved edit unless the account has one for its list and entry (present
        when it is the same edit, a conflict when it differs: kept)."""
        new = edit.entry
        item = [new.kind, new.entry, new.blocked, new.added_at_ms]

        def compute(old: Document | None) -> tuple[Document | None, Outcome]:
            entries = _entries(old)
            for e in entries:
                if (e[0], e[1]) == (new.kind, new.entry):
                    same = bool(e[2]) == new.blocked
                    return None, (Outcome.PRESENT if same else Outcome.CONFLICT)
            doc = self._document(edit.channel, edit.account_id, [*entries, item])
            return (None if dry_run else doc), Outcome.MOVED

        key = self._key(edit.channel, edit.account_id)
        outcome = await change(self.bucket.kv, key, compute)
        if outcome is Outcome.MOVED and not dry_run:
            await self._announce()
        return outcome

    @staticmethod
    def _key(channel: str, account_id: str) -> str:
        return kv_key("acct", channel, normalize_account_id(account_id))

    @staticmethod
    def _document(channel: str, account_id: str, entries: list[list[object]]) -> Document:
        return {"channel": channel, "account": normalize_account_id(account_id), "entries": entries}

    async def _announce(self) -> None:
        if self._notify is None:
            return
        try:
            await self._notify()
        except Exception as exc:  # the periodic reload brings the edit to the others anyway
            log.warning("cluster: could not announce an allowlist edit (%s)", type(exc).__name__)


def _entries(doc: Document | None) -> list[list[object]]:
    return [list(e) for e in (doc or {}).get("entries") or []]


class ChangeFeed:
    """Runs ``reload`` after a notification on ``subject`` (a burst is one reload), after
    :meth:`poke` (a reconnect) and every ``every`` seconds.

    Args:
        client: The node's connection.
        subject: Where the changes are announced.
        reload: Reads the shared state again.
        every: Seconds between reloads without a notification.
    """

    def __init__(
        self, client: Client, subject: str, reload: Notify, *, every: float = RELOAD_EVERY_S
    ) -> None:
        self._client = client
        self._subject = subject
        self._reload = reload
        self._every = every
        self._wake = asyncio.Event()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and start the reload loop."""

        async def on_message(_msg: object) -> None:
            self._wake.set()

        self._subscription = await self._client.subscribe(self._subject, cb=on_message)
        self._task = asyncio.create_task(self._run(), name=f"reload:{self._subject}")

    def poke(self) -> None:
        """Reload soon (the connection came back: notifications may have been missed)."""
        self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._every):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._reload()
            except Exception as exc:  # NATS away for a moment: the next round tries again
                log.warning("cluster: reloading %s failed (%s)", self._subject, exc)


class KvSessionStore:
    """:class:`~zalogate.console.sessions.SessionStore` on a KV bucket whose max age is the
    session lifetime. Writes are queued (the console's auth API is sync); :meth:`settled`
    waits for them before a response that depends on them leaves."""

    shared = True

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        """The bucket (its keys are the cookies' hashes)."""
        self._pending: set[asyncio.Task[object]] = set()

    async def load(self, now: float) -> list[SessionRecord]:
        found = []
        for name in await self.bucket.keys("s."):
            record = await self.find(name[2:], now)
            if record is not None:
                found.append(record)
        return sorted(found, key=lambda r: r[3])

    async def find(self, key: str, now: float) -> SessionRecord | None:
        doc, _ = await read(self.bucket.kv, f"s.{key}")
        if doc is None or float(doc.get("exp", 0)) <= now:
            return None
        return key, str(doc["csrf"]), str(doc["lang"]), float(doc["exp"])

    def save(self, session: Session) -> None:
        doc = {"csrf": session.csrf, "lang": session.lang, "exp": session.expires_at}
        self._queue(self.bucket.kv.put(f"s.{session.id}", json.dumps(doc).encode()))

    def delete(self, key: str) -> None:
        self._queue(self._delete(key))

    async def settled(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def _delete(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError):
            await self.bucket.kv.delete(f"s.{key}")

    def _queue(self, write: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(write)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("console: could not save a session (%s)", type(task.exception()).__name__)
