"""An update the poller holds when it is stopped is still admitted (Zalo will not resend it)."""

from __future__ import annotations

import asyncio
from typing import Any

from zalogate.channels.zalo.polling import PollingMonitor


async def test_an_update_in_hand_at_a_stop_is_admitted_once_the_store_answers() -> None:
    stop = asyncio.Event()
    admitted: list[dict[str, Any]] = []
    refusals = 0

    async def sink(raw: dict[str, Any]) -> None:
        nonlocal refusals
        if not stop.is_set() or refusals < 3:  # the store elects a leader; the lease is lost
            refusals += 1
            stop.set()
            raise ConnectionError("no response from stream")
        admitted.append(raw)

    monitor = PollingMonitor(None, "default", sink)  # type: ignore[arg-type]
    await asyncio.wait_for(monitor._deliver({"message_id": "m1"}, stop), 30)
    assert admitted == [{"message_id": "m1"}]
    assert refusals == 3
