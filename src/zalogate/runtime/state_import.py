"""Move a node's SQLite state into a cluster's stores (``zalogate cluster import-state``).

A record an earlier run moved (the destination's :class:`~zalogate.core.state_transfer.MoveLog`)
is not offered again: removed at the destination since, it stays removed.

Reads the node's stores (their own SQLite implementations) and hands each record to the
destination's ``adopt`` (:mod:`zalogate.core.state_transfer`), kind by kind. What moves and
why (docs/cluster.md, "Moving a single node into a cluster"): approved senders, pending
pairing requests (their senders hold the codes), the console's allowlist edits, schedules
(done ones too, for ``schedule list --all``), the agents' transcripts (the latest
:data:`TRANSCRIPT_WINDOW` messages, what a cluster keeps), and paused conversations with
their lines. Not moved: the pending group history (context waiting for the next mention,
its images are this node's files) and console sessions (log in again).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zalogate.agents.transcripts import SqliteTranscriptStore
from zalogate.core.access_overlay import SqliteAccessOverlayStore
from zalogate.core.pairing import SqlitePairingStore
from zalogate.core.schedules import SqliteScheduleStore
from zalogate.core.state_transfer import (
    MoveLog,
    Outcome,
    OverlayEdit,
    PausedConversation,
    SessionTranscript,
    StateSinks,
)
from zalogate.core.takeover import SqliteTakeoverState
from zalogate.store import Store

__all__ = ["KINDS", "TRANSCRIPT_WINDOW", "KindReport", "transfer"]

TRANSCRIPT_WINDOW = 200
"""Messages moved per agent session (a cluster keeps the latest 200)."""
_LINES = 200
"""Lines moved per paused conversation (a cluster keeps the latest 200)."""

R = TypeVar("R")


@dataclass(slots=True)
class KindReport:
    """The outcome for one kind of state; ``conflicts`` names the kept entries."""

    kind: str
    moved: int = 0
    present: int = 0
    conflicts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "moved": self.moved,
            "present": self.present,
            "conflicts": len(self.conflicts),
            "conflicting": list(self.conflicts),
        }


@dataclass(frozen=True, slots=True)
class _Kind(Generic[R]):
    name: str
    records: Callable[[], Awaitable[Sequence[R]]]
    adopt: Callable[[R, bool], Awaitable[Outcome]]
    label: Callable[[R], str]

    async def run(self, log: MoveLog, dry_run: bool) -> KindReport:
        report = KindReport(self.name)
        for record in await self.records():
            label = self.label(record)
            if await log.moved_before(self.name, label):
                report.present += 1
                continue
            outcome = await self.adopt(record, dry_run)
            if outcome is Outcome.CONFLICT:
                report.conflicts.append(label)
                continue
            if outcome is Outcome.MOVED:
                report.moved += 1
            else:
                report.present += 1
            if not dry_run:
                await log.note_moved(self.name, label)
        return report


KINDS = ("allowed", "pending", "overlays", "schedules", "transcripts", "paused")
"""The kinds in the order they move (and the report lists them)."""


def _kinds(store: Store, sinks: StateSinks, now_ms: int) -> list[_Kind[Any]]:
    pairing = SqlitePairingStore(store)
    overlays = SqliteAccessOverlayStore(store)
    transcripts = SqliteTranscriptStore(store)
    takeover = SqliteTakeoverState(store)

    async def edits() -> list[OverlayEdit]:
        found = await overlays.load_all()
        return [OverlayEdit(c, a, e) for (c, a), o in sorted(found.items()) for e in o.entries]

    async def sessions() -> list[SessionTranscript]:
        found = []
        for key in await transcripts.session_keys():
            messages = await transcripts.recent(key, TRANSCRIPT_WINDOW)
            if messages:
                found.append(SessionTranscript(key, tuple(messages)))
        return found

    async def paused() -> list[PausedConversation]:
        keys = sorted(await takeover.paused_keys(), key=lambda k: (k.channel, k.account_id))
        return [
            PausedConversation(k, now_ms, tuple(await takeover.recorded(k, _LINES))) for k in keys
        ]

    def account(channel: str, account_id: str | None) -> str:
        return f"{channel}/{account_id or 'default'}"

    return [
        _Kind(
            "allowed",
            pairing.allowed_entries,
            lambda r, d: sinks.pairing.adopt_allowed(r, dry_run=d),
            lambda r: f"{account(r.channel, r.account_id)} {r.entry}",
        ),
        _Kind(
            "pending",
            pairing.list_pending,
            lambda r, d: sinks.pairing.adopt_request(r, dry_run=d),
            lambda r: f"{account(r.channel, r.account_id)} {r.id}",
        ),
        _Kind(
            "overlays",
            edits,
            lambda r, d: sinks.overlays.adopt_edit(r, dry_run=d),
            lambda r: f"{account(r.channel, r.account_id)} {r.entry.kind} {r.entry.entry}",
        ),
        _Kind(
            "schedules",
            lambda: SqliteScheduleStore(store).all(include_done=True),
            lambda r, d: sinks.schedules.adopt_schedule(r, dry_run=d),
            lambda r: f"{r.id} ({account(r.channel, r.account_id)} {r.target})",
        ),
        _Kind(
            "transcripts",
            sessions,
            lambda r, d: sinks.transcripts.adopt_transcript(r, dry_run=d),
            lambda r: r.session_key,
        ),
        _Kind(
            "paused",
            paused,
            lambda r, d: sinks.takeover.adopt_pause(r, dry_run=d),
            lambda r: f"{account(r.key.channel, r.key.account_id)} {r.key.chat_id}",
        ),
    ]


async def transfer(
    store: Store,
    sinks: StateSinks,
    *,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> list[KindReport]:
    """Move ``store``'s state into ``sinks``, kind by kind (see the module's list)."""
    kinds = _kinds(store, sinks, int(clock() * 1000))
    return [await kind.run(sinks.log, dry_run) for kind in kinds]
