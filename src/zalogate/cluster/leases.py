"""One owner per account: a lease in a JetStream KV bucket with a TTL.

A node takes a lease by creating the key (refused while another node holds it), keeps it by
updating it with compare-and-set on the revision every third of the TTL, and gives it back
by deleting it. A node that dies stops renewing: the bucket's TTL removes the key and the
next node that asks takes the account. A node that cannot renew (NATS out of reach) treats
the lease as lost before the TTL runs out, so two nodes never run one account at once.

Accounts are spread over the nodes: a node that holds its share (the accounts it wants
divided by the live nodes, rounded up) leaves a free account to the others for a while, and
a node above its share hands one account over per TTL (after its monitor stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
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
        nodes: The node heartbeat bucket (counts the live nodes for the spreading); None: no
            spreading, a node takes every free account.
    """

    def __init__(
        self,
        kv: KeyValue,
        node_id: str,
        ttl: float,
        *,
        nodes: KeyValue | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self._nodes = nodes
        self.node_id = node_id
        self.ttl = ttl
        self._clock = clock
        self.held: dict[tuple[str, str], int] = {}
        """The leases this node holds now, with their last revision."""
        self._wanted: set[tuple[str, str]] = set()
        self._handing_over: set[tuple[str, str]] = set()
        self._last_handover = -math.inf
        self._free_since: dict[str, float] = {}
        self._live: tuple[float, int] = (-math.inf, 1)

    @contextlib.asynccontextmanager
    async def hold(
        self, account: tuple[str, str], stop: asyncio.Event, *, kind: str = "account"
    ) -> AsyncIterator[asyncio.Event | None]:
        """Wait for the lease on ``account`` (or for ``stop``), and keep it while inside.

        Yields the event set when the lease is lost (or handed over), or None when ``stop``
        came first. ``kind`` heads the key: ``account`` leases are what ``cluster status``
        lists as accounts (a node role such as the scheduler is ``role``).
        """
        key = kv_key(kind, *account)
        self._wanted.add(account)
        try:
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
                handover = account in self._handing_over
                self._handing_over.discard(account)
                if last is not None and (handover or not lost.is_set()):
                    with contextlib.suppress(Exception):  # the TTL frees it anyway
                        await self._kv.delete(key, last=last)
                        log.info("lease %s released", key)
        finally:
            self._wanted.discard(account)

    async def share(self) -> int:
        """How many accounts this node should hold: wanted ÷ live nodes, rounded up."""
        if self._nodes is None:
            return len(self._wanted)
        checked, live = self._live
        now = self._clock()
        if now - checked >= 1.0:
            with contextlib.suppress(Exception):  # keep the last count while NATS is away
                live = max(1, len(await self._nodes.keys()))
            self._live = (now, live)
        return max(1, math.ceil(len(self._wanted) / live))

    async def _acquire(self, key: str, stop: asyncio.Event) -> int | None:
        value = self.node_id.encode()
        poll = max(0.2, min(1.0, self.ttl / 10))
        waiting_logged = False
        while not stop.is_set():
            if len(self.held) < await self.share() or await self._left_free(key):
                try:
                    revision = await self._kv.create(key, value)
                    self._free_since.pop(key, None)
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

    async def _left_free(self, key: str) -> bool:
        """True once ``key`` stayed free for half a TTL (no node below its share took it)."""
        try:
            await self._kv.get(key)
        except NotFoundError:  # no key, or a delete marker
            since = self._free_since.setdefault(key, self._clock())
            return self._clock() - since >= self.ttl / 2
        except Exception:
            return False
        self._free_since.pop(key, None)
        return False

    async def _reclaim(self, key: str) -> int | None:
        """Take back a lease this node's name still holds (a restart with a fixed node id)."""
        try:
            entry = await self._kv.get(key)
        except Exception:
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
                # An earlier renewal that timed out here may have landed all the same: the key
                # still names this node (only this node writes its name), so it is still ours.
                reclaimed: int | None = None
                with contextlib.suppress(TimeoutError):
                    reclaimed = await asyncio.wait_for(self._reclaim(key), timeout=self.ttl / 4)
                if reclaimed is None:
                    log.warning("lease %s was taken by another node; stopping here", key)
                    lost.set()
                    return
                revision = reclaimed
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
            if await self._should_hand_over():
                log.info("lease %s: this node holds more than its share; handing it over", key)
                self._handing_over.add(account)
                self._last_handover = self._clock()
                lost.set()  # the monitor stops; the key is deleted once it has
                return

    async def _should_hand_over(self) -> bool:
        """One account per TTL while this node holds more than its share."""
        if self._nodes is None or self._clock() - self._last_handover < self.ttl:
            return False
        return len(self.held) > await self.share()
