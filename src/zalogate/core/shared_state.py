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

from zalogate.core.history import GroupHistory, SqliteGroupHistory
from zalogate.core.pairing import PairingStore, SqlitePairingStore
from zalogate.core.schedules import ScheduleStore, SqliteScheduleStore
from zalogate.core.takeover import SqliteTakeoverState, TakeoverState
from zalogate.store import Store

__all__ = ["SharedState", "local_state"]


@dataclass(frozen=True, slots=True)
class SharedState:
    """Pairing requests with the allow store, takeover (paused conversations), the pending
    group history and the scheduled messages."""

    pairing: PairingStore
    takeover: TakeoverState
    history: GroupHistory
    schedules: ScheduleStore


def local_state(store: Store, *, clock: Callable[[], float] = time.time) -> SharedState:
    """The single-node implementations, on ``store`` (``clock`` dates new schedules)."""
    return SharedState(
        SqlitePairingStore(store),
        SqliteTakeoverState(store),
        SqliteGroupHistory(store),
        SqliteScheduleStore(store, clock=clock),
    )
