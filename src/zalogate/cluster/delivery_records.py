"""The delivery log of a cluster node: the node's own outbox log, and the claim of each inbox
message it runs (:mod:`zalogate.cluster.claims`).

A chunk's status goes to the outbox log at once (as on one node) and into the message's
claim, which is written before the account's send slot is freed (``fsync``) and, for an
intent, before the send (``flush_intents``). A node that takes a message over reads the
statuses the claim carried, so it skips the chunks that went out and resends at most the one
that was in flight (never, with ``resend_unknown`` off). Sends outside the inbox (control
sends, schedules) have no claim: only the outbox log.
"""

from __future__ import annotations

from collections.abc import Sequence

from zalogate.cluster.claims import Claims
from zalogate.core.outbox import ChunkKey, DeliveryLog, MessageKey, Outbox

__all__ = ["SharedDeliveryLog"]


class SharedDeliveryLog(DeliveryLog):
    """:class:`~zalogate.core.outbox.DeliveryLog` over ``local`` and this node's claims."""

    fsync = True
    flush_intents = True

    def __init__(self, local: Outbox, claims: Claims) -> None:
        self._local = local
        self._claims = claims

    def note(self, key: ChunkKey, status: str, ids: Sequence[str] = ()) -> None:
        self._local.note(key, status, ids)
        claim = self._claims.active.get((key[0], key[1], key[2]))
        if claim is not None:
            claim.chunks[key[3]] = (status, tuple(ids))
            claim.dirty = True

    async def flush(self, message: MessageKey | None = None) -> None:
        if self._local.fsync:
            await self._local.flush()
        claim = None if message is None else self._claims.active.get(message)
        if claim is not None:
            await self._claims.save(claim)

    def has(self, key: MessageKey) -> bool:
        claim = self._claims.active.get(key)
        return self._local.has(key) or (claim is not None and bool(claim.chunks))

    def statuses(self, key: MessageKey) -> dict[int, tuple[str, tuple[str, ...]]]:
        found = self._local.statuses(key)
        claim = self._claims.active.get(key)
        if claim is not None:  # the cluster's record: also what another node sent
            found.update(claim.chunks)
        return found

    def finish(self, key: MessageKey) -> None:
        self._local.finish(key)
