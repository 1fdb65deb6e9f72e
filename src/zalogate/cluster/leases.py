"""One owner per account: a lease in a JetStream KV bucket with a TTL.

A node takes a lease by creating the key (refused while another node holds it), keeps it by
updating it with compare-and-set on the revision every third of the TTL, and gives it back
by deleting it. A node that dies stops renewing: the bucket's TTL removes the key and the
next node that asks takes the account. A node that cannot renew (NATS out of reach) treats
the lease as lost before the TTL runs out, so two nodes never run one account at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from zalogate.cluster.layout import kv_key

__all__ = ["AccountLeases"]

log = logging.getLogger("zalogate.cluster")

_FENCE = 0.7
"""Share of the TTL after the last good renewal at which a node gives up its lease."""


class AccountLeases:
    """Leases on ``(channel, account id)`` keys for one node (the supervisor's lease gate).

    Args:
        kv: The lease bucket (its TTL is the lease TTL).
        node_id: This node's name, the value of every lease it holds.
        ttl: The bucket's TTL in seconds.
    """

    def __init__(
        self,
        kv: KeyValue,
        node_id: str,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self.node_id = node_id
        self.ttl = ttl
        self._clock = clock
        self.held: dict[tuple[str, str], int] = {}
        """The leases this node holds now, with their last revision."""

    @contextlib.asynccontextmanager
    async def hold(
        self, account: tuple[str, str], stop: asyncio.Event
    ) -> AsyncIterator[asyncio.Event | None]:
        """Wait for the lease on ``account`` (or for ``stop``), and keep it while inside.

        Yields the event set when the lease is lost, or None when ``stop`` came first.
        """
        key = kv_key("account", *account)
        revision = await self._acquire(key, stop)
        if revision is None:
            yield None
            return
        self.held[account] = revision
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew(account, key, lost), name=f"lease:{key}")
        try:
            yield lost
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            last = self.held.pop(account, None)
            if last is not None and not lost.is_set():
                with contextlib.suppress(Exception):  # the TTL frees it anyway
                    await self._kv.delete(key, last=last)
                    log.info("lease %s released", key)

    async def _acquire(self, key: str, stop: asyncio.Event) -> int | None:
        value = self.node_id.encode()
        poll = max(0.2, min(1.0, self.ttl / 10))
        waiting_logged = False
        while not stop.is_set():
            try:
                revision = await self._kv.create(key, value)
                log.info("lease %s taken by %s", key, self.node_id)
                return revision
            except KeyWrongLastSequenceError:
                reclaimed = await self._reclaim(key)
                if reclaimed is not None:
                    return reclaimed
                if not waiting_logged:
                    log.info("lease %s is held by another node; standing by", key)
                    waiting_logged = True
            except Exception as exc:  # NATS away for a moment: ask again
                log.debug("lease %s: %s", key, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
        return None

    async def _reclaim(self, key: str) -> int | None:
        """Take back a lease this node's name still holds (a restart with a fixed node id)."""
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, Exception):
            return None
        if entry.value != self.node_id.encode() or entry.revision is None:
            return None
        try:
            return await self._kv.update(key, self.node_id.encode(), last=entry.revision)
        except Exception:
            return None

    async def _renew(self, account: tuple[str, str], key: str, lost: asyncio.Event) -> None:
        value = self.node_id.encode()
        every = self.ttl / 3
        last_ok = self._clock()
        while True:
            await asyncio.sleep(every)
            try:
                revision = await asyncio.wait_for(
                    self._kv.update(key, value, last=self.held[account]), timeout=self.ttl / 4
                )
            except KeyWrongLastSequenceError:
                log.warning("lease %s was taken by another node; stopping here", key)
                lost.set()
                return
            except Exception as exc:
                if self._clock() - last_ok >= self.ttl * _FENCE:
                    log.warning("lease %s could not be renewed (%s); stopping here", key, exc)
                    lost.set()
                    return
                every = self.ttl / 10
                continue
            self.held[account] = revision
            last_ok = self._clock()
            every = self.ttl / 3
