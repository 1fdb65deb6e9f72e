"""Moving one node's state into another set of stores (``zalogate cluster import-state``).

The records a node's SQLite stores hand out, and what a destination store offers to take
them: ``adopt`` writes a record only where the destination has nothing for it (create, or
compare-and-set on what it read), so a second run writes nothing and an entry the
destination already holds differently is kept (:attr:`Outcome.CONFLICT`). ``dry_run``
decides the outcome the same way and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from zalogate.core.access import OverlayEntry
from zalogate.core.pairing import AllowedSender, PairingRequest
from zalogate.core.schedules import Schedule
from zalogate.core.takeover import ConversationKey, TranscriptLine

__all__ = [
    "AllowedSender",
    "MoveLog",
    "Outcome",
    "OverlayEdit",
    "OverlayImport",
    "PairingImport",
    "PausedConversation",
    "ScheduleImport",
    "SessionTranscript",
    "StateSinks",
    "TakeoverImport",
    "TranscriptImport",
]


class Outcome(StrEnum):
    """What adopting one record did (or would do, in a dry run)."""

    MOVED = "moved"
    PRESENT = "present"
    """The destination holds the same record (or a later state of it): nothing written."""
    CONFLICT = "conflict"
    """The destination holds something else for it: kept, nothing written."""


@dataclass(frozen=True, slots=True)
class OverlayEdit:
    """One console allowlist edit of one account."""

    channel: str
    account_id: str
    entry: OverlayEntry


@dataclass(frozen=True, slots=True)
class PausedConversation:
    """A conversation an operator holds, with the lines said while it was paused."""

    key: ConversationKey
    at_ms: int
    lines: tuple[TranscriptLine, ...]


@dataclass(frozen=True, slots=True)
class SessionTranscript:
    """An agent session's latest messages (OpenAI message dicts), oldest first."""

    session_key: str
    messages: tuple[dict[str, Any], ...]


class PairingImport(Protocol):
    async def adopt_allowed(self, sender: AllowedSender, *, dry_run: bool) -> Outcome:
        """Add the sender to its account's allow store unless it is there."""
        ...

    async def adopt_request(self, request: PairingRequest, *, dry_run: bool) -> Outcome:
        """Keep a pending request with its code (present when the sender has it or was
        approved since); a conflict when the sender has another code, the code is taken or
        the account has its cap."""
        ...


class OverlayImport(Protocol):
    async def adopt_edit(self, edit: OverlayEdit, *, dry_run: bool) -> Outcome:
        """Record the edit unless the account has one for that list and entry."""
        ...


class ScheduleImport(Protocol):
    async def adopt_schedule(self, schedule: Schedule, *, dry_run: bool) -> Outcome:
        """Create the schedule under its id; present when the id holds the same schedule
        (in any later state), a conflict when it holds another."""
        ...


class TranscriptImport(Protocol):
    async def adopt_transcript(self, transcript: SessionTranscript, *, dry_run: bool) -> Outcome:
        """Write the session's messages unless the session exists (present when it starts
        with them)."""
        ...


class TakeoverImport(Protocol):
    async def adopt_pause(self, paused: PausedConversation, *, dry_run: bool) -> Outcome:
        """Pause the conversation (with its lines, unless it has recorded lines already)."""
        ...


class MoveLog(Protocol):
    """What earlier runs moved from this source (``kind`` and the record's label)."""

    async def moved_before(self, kind: str, record: str) -> bool:
        """Whether the record was moved (or found there) by an earlier run."""
        ...

    async def note_moved(self, kind: str, record: str) -> None:
        """Remember the record as moved (idempotent)."""
        ...


@dataclass(frozen=True, slots=True)
class StateSinks:
    """Where :func:`zalogate.runtime.state_import.transfer` moves a node's state; ``log``
    keeps a second run from putting back what was removed at the destination since."""

    pairing: PairingImport
    overlays: OverlayImport
    schedules: ScheduleImport
    transcripts: TranscriptImport
    takeover: TakeoverImport
    log: MoveLog
