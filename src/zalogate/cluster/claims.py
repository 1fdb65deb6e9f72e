"""Per-message claims of the inbox: who runs a message, and what of its reply went out.

Before a node runs an inbox message it claims it: it creates the key ``<stream sequence>`` in
the claims bucket (kept for the dedupe window, replicated like the inbox) with its node id
and incarnation. A claim already there decides instead:

* ``done``: the message was handled (its ack was lost, or a consumer leader that died hands
  it out again as a first delivery): it is acknowledged without running;
* ``run`` by a live node (its heartbeat carries the same incarnation): handed back with a
  delay, not run — unless the claim stayed unchanged for ``stale_after`` while the message
  kept coming back (its run ended without handing the claim back): then taken over;
* ``run`` by a node that is gone, or ``free`` (handed back by a node that stopped, or after a
  retryable failure): taken over with compare-and-set on the revision and run as a replay.

While a node runs a message, each reply chunk's outcome (the statuses of
:mod:`zalogate.core.outbox`) goes into its claim before the account's send slot is freed
(:class:`~zalogate.cluster.delivery_records.SharedDeliveryLog`), so the node that takes it
over skips what went out and sends again only the chunk that was in flight. Done is the claim
set to ``done``, written before the ack. Every write is retried through a leader election.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from zalogate.cluster.connection import settle
from zalogate.cluster.layout import kv_key
from zalogate.core.outbox import MessageKey

__all__ = ["Claim", "Claims", "Verdict"]

log = logging.getLogger("zalogate.cluster")

Chunks = dict[int, tuple[str, tuple[str, ...]]]
"""seq -> (status, message ids) of a reply's chunks."""


class Verdict(Enum):
    """What the inbox does with a message after asking for its claim."""

    RUN = "run"
    DONE = "done"
    BUSY = "busy"


@dataclass(slots=True)
class Claim:
    """A claim this node holds: its revision and the chunk outcomes written into it."""

    seq: int
    revision: int
    attempt: int = 1
    """Runs of the message so far, this one included (hand-backs do not count)."""
    chunks: Chunks = field(default_factory=dict)
    takeover: bool = False
    """Taken from another holder (or a handed-back claim): run as a replay."""
    dirty: bool = False
    message: MessageKey | None = None
    """The message it is for, once parsed (its key in :attr:`Claims.active`)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _VanishedError(Exception):
    """The key vanished between two reads (its TTL ran out): ask again."""


class Claims:
    """This node's side of the claims bucket.

    Args:
        kv: The claims bucket.
        nodes: The node heartbeat bucket (whether a claim's holder is alive).
        node_id: This node's id.
        incarnation: This run of the node (a node restarted under the same id is another).
        settle_time: Seconds each read or write is retried while NATS elects leaders.
    """

    def __init__(
        self,
        kv: KeyValue,
        nodes: KeyValue,
        node_id: str,
        incarnation: str,
        *,
        settle_time: float = 30.0,
        stale_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self._nodes = nodes
        self.node_id = node_id
        self.incarnation = incarnation
        self.settle_time = settle_time
        self.held: dict[int, Claim] = {}
        """Claims of the messages this node is running, by stream sequence."""
        self.active: dict[MessageKey, Claim] = {}
        """The same, by message: where the delivery log writes a chunk's outcome."""
        self.unsaved = 0
        """Chunk outcomes or done marks that could not be written (NATS gave no answer)."""
        self.stale_after = stale_after
        self._clock = clock
        self._waiting: dict[int, tuple[int, float]] = {}
        """Claims found held by a live node: (revision, first seen) per stream sequence."""

    async def claim(self, seq: int) -> tuple[Verdict, Claim | None]:
        """Claim stream message ``seq``; raises when NATS did not answer within the settle
        time (then running it might answer it twice)."""
        return await settle(lambda: self._claim(seq), within=self.settle_time)

    async def _claim(self, seq: int) -> tuple[Verdict, Claim | None]:
        key = str(seq)
        try:
            revision = await self.kv.update(key, self._doc("run", {}, 1), last=0)  # create
        except KeyWrongLastSequenceError:
            pass
        else:
            return self._hold(Claim(seq, revision))
        try:
            entry = await self.kv.get(key)
        except NotFoundError:
            raise _VanishedError from None
        doc = _parse(entry.value)
        state = doc.get("s")
        if state == "done":
            return Verdict.DONE, None
        if state == "run" and await self._alive(seq, doc) and self._fresh(seq, entry.revision):
            return Verdict.BUSY, None
        self._waiting.pop(seq, None)
        chunks = _chunks(doc.get("c"))
        attempt = _count(doc.get("a")) + 1
        try:
            data = self._doc("run", chunks, attempt)
            revision = await self.kv.update(key, data, last=entry.revision)
        except KeyWrongLastSequenceError:
            return Verdict.BUSY, None  # another node took it over first
        log.info("inbox: message %d taken over from %s", seq, doc.get("n") or "a stopped node")
        return self._hold(Claim(seq, revision, attempt, chunks, takeover=True))

    def _hold(self, claim: Claim) -> tuple[Verdict, Claim]:
        self.held[claim.seq] = claim
        return Verdict.RUN, claim

    def _fresh(self, seq: int, revision: int | None) -> bool:
        """False once a live holder's claim stayed unchanged for ``stale_after`` seconds
        while the message kept coming back: JetStream hands a message out again only when
        its holder stopped saying it is busy, so that holder no longer runs it (a run that
        ended without handing the claim back)."""
        now = self._clock()
        seen = self._waiting.get(seq)
        if seen is None or seen[0] != revision:
            if len(self._waiting) >= 10_000:
                self._waiting.clear()
            self._waiting[seq] = (revision or 0, now)
            return True
        return now - seen[1] < self.stale_after

    async def _alive(self, seq: int, doc: dict[str, Any]) -> bool:
        """Whether the claim's holder still runs the message (a live heartbeat of the same
        incarnation; this node: only while it runs it)."""
        node, incarnation = doc.get("n"), doc.get("i")
        if node == self.node_id and incarnation == self.incarnation:
            return seq in self.held
        try:
            entry = await self._nodes.get(kv_key("node", str(node)))
        except NotFoundError:
            return False
        return bool(_parse(entry.value).get("incarnation") == incarnation)

    async def save(self, claim: Claim) -> None:
        """Write the chunk outcomes noted since the last save; a failure is logged and
        counted, never raised (the send it records went out)."""
        async with claim.lock:
            if not claim.dirty:
                return
            claim.dirty = False
            data = self._doc("run", claim.chunks, claim.attempt)
            await self._write(claim, data, "a reply chunk's outcome")

    async def finish(self, claim: Claim) -> None:
        """Mark the message done (before its ack) and forget the claim."""
        self._forget(claim)
        async with claim.lock:
            await self._write(claim, self._doc("done", {}, claim.attempt), "the done mark")

    async def release(self, claim: Claim, *, within: float | None = None) -> None:
        """Hand the claim back with its chunk outcomes: the next node takes it over at once."""
        self._forget(claim)
        async with claim.lock:
            data = self._doc("free", claim.chunks, claim.attempt)
            await self._write(claim, data, "the release", within)

    def activate(self, claim: Claim, message: MessageKey) -> None:
        """``claim`` runs ``message``: its chunk outcomes are noted there from now on."""
        claim.message = message
        self.active[message] = claim

    def _forget(self, claim: Claim) -> None:
        self.held.pop(claim.seq, None)
        if claim.message is not None and self.active.get(claim.message) is claim:
            del self.active[claim.message]

    async def _write(
        self, claim: Claim, data: bytes, what: str, within: float | None = None
    ) -> None:
        key = str(claim.seq)

        async def attempt() -> bool:
            try:
                claim.revision = await self.kv.update(key, data, last=claim.revision)
            except KeyWrongLastSequenceError:
                # The first try may have landed with its answer lost: then the value is ours.
                entry = await self.kv.get(key)
                if entry.value != data:
                    return False
                claim.revision = entry.revision or 0
            return True

        try:
            written = await settle(attempt, within=self.settle_time if within is None else within)
        except Exception as exc:
            self.unsaved += 1
            log.warning("inbox: %s of message %d not written: %s", what, claim.seq, exc)
            return
        if not written:
            self.unsaved += 1
            log.warning("inbox: message %d taken over by another node; %s lost", claim.seq, what)

    def _doc(self, state: str, chunks: Chunks, attempt: int) -> bytes:
        doc: dict[str, Any] = {"n": self.node_id, "i": self.incarnation, "s": state, "a": attempt}
        if chunks:
            doc["c"] = {str(seq): [status, list(ids)] for seq, (status, ids) in chunks.items()}
        return json.dumps(doc, separators=(",", ":")).encode()


def _parse(value: bytes | None) -> dict[str, Any]:
    try:
        doc = json.loads(value or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _count(raw: object) -> int:
    return raw if isinstance(raw, int) and raw > 0 else 0


def _chunks(raw: object) -> Chunks:
    if not isinstance(raw, dict):
        return {}
    chunks: Chunks = {}
    for seq, item in raw.items():
        try:
            status, ids = item
            chunks[int(seq)] = (str(status), tuple(str(i) for i in ids))
        except (TypeError, ValueError):
            continue
    return chunks
