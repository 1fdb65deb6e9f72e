"""The state every node of a deployment must agree on, behind its store interfaces.

One process keeps it in its SQLite :class:`~zalogate.store.Store` (:func:`local_state`); in
cluster mode ``zalogate.cluster`` hands out JetStream KV implementations of the same
protocols, so an approval or a pause made on one node holds on every node. The runtime picks
one (``runtime.wiring.shared_state``); nothing else knows which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from zalogate.core.history import GroupHistory, SqliteGroupHistory
from zalogate.core.pairing import PairingStore, SqlitePairingStore
from zalogate.core.schedules import ScheduleStore, SqliteScheduleStore
from zalogate.core.takeover import SqliteTakeoverState, TakeoverState
from zalogate.store import Store

__all__ = ["ContactTimes", "SessionVault", "SharedState", "local_state"]


class ContactTimes(Protocol):
    """When each user last interacted with a channel account (a message, a follow), as every
    node saw it: what a channel with a reply window (an Official Account) decides on."""

    async def touch(self, channel: str, account_id: str, user_id: str, at: float) -> None:
        """Record an interaction at ``at`` (epoch seconds); an older one changes nothing."""
        ...

    async def last(self, channel: str, account_id: str, user_id: str) -> float | None:
        """The latest interaction on record (epoch seconds), or None."""
        ...


class SessionVault(Protocol):
    """Saved logins every node shares, sealed (a personal account's session): the node that
    takes an account over logs in with the session the last holder saved."""

    async def load(self, name: tuple[str, ...]) -> bytes | None:
        """The saved document ``name``, or None."""
        ...

    async def save(self, name: tuple[str, ...], data: bytes) -> None:
        """Replace document ``name``."""
        ...

    async def forget(self, name: tuple[str, ...]) -> None:
        """Remove document ``name`` (a logout)."""
        ...


@dataclass(frozen=True, slots=True)
class SharedState:
    """Pairing requests with the allow store, takeover (paused conversations), the pending
    group history and the scheduled messages; in a cluster also the users' last contact
    times (``contacts``) and the saved logins (``sessions``, with ``gateway.cluster.
    sessionKey``); None on one node, where a channel keeps its own records."""

    pairing: PairingStore
    takeover: TakeoverState
    history: GroupHistory
    schedules: ScheduleStore
    contacts: ContactTimes | None = None
    sessions: SessionVault | None = None


def local_state(store: Store, *, clock: Callable[[], float] = time.time) -> SharedState:
    """The single-node implementations, on ``store`` (``clock`` dates new schedules)."""
    return SharedState(
        SqlitePairingStore(store),
        SqliteTakeoverState(store),
        SqliteGroupHistory(store),
        SqliteScheduleStore(store, clock=clock),
    )
