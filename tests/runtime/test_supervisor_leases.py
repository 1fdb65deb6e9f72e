"""The supervisor's lease gate (cluster mode): a monitor runs only while its node holds the
account's lease, stands by otherwise, and stops when the lease is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from zalogate.backoff import BackoffConfig
from zalogate.runtime.status import AccountState, StatusBoard
from zalogate.runtime.supervisor import Supervisor

from .test_account_control import ScriptedChannel, until

TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)


class GrantedByHand:
    """A lease gate the test opens and takes away."""

    def __init__(self) -> None:
        self.granted = asyncio.Event()
        self.lost = asyncio.Event()

    @contextlib.asynccontextmanager
    async def hold(
        self, account: tuple[str, str], stop: asyncio.Event
    ) -> AsyncIterator[asyncio.Event | None]:
        waits = {asyncio.ensure_future(self.granted.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if stop.is_set():
            yield None
            return
        self.granted.clear()
        self.lost = asyncio.Event()
        yield self.lost


def start(leases: GrantedByHand) -> tuple[Supervisor, StatusBoard, ScriptedChannel]:
    status = StatusBoard()
    supervisor = Supervisor(
        status,
        backoff=TINY,
        slow_backoff=TINY,
        startup_grace=0.01,
        shutdown_timeout=2.0,
        stopping=lambda: False,
        leases=leases,
    )
    channel = ScriptedChannel(["a"], {})
    supervisor.start(channel, channel.accounts()[0])
    return supervisor, status, channel


def state(status: StatusBoard) -> AccountState | None:
    record = status.get("fake", "a")
    return record.state if record is not None else None


async def test_a_monitor_waits_for_its_lease_and_stops_when_it_is_lost() -> None:
    leases = GrantedByHand()
    supervisor, status, channel = start(leases)
    await until(lambda: state(status) is AccountState.STANDBY)
    assert channel.runs["a"] == 0

    leases.granted.set()
    await until(lambda: state(status) is AccountState.RUNNING)
    assert channel.runs["a"] == 1

    leases.lost.set()  # another node has it now
    await until(lambda: state(status) is AccountState.STANDBY)
    assert channel.stopped["a"] == 1

    leases.granted.set()  # and back
    await until(lambda: state(status) is AccountState.RUNNING)
    assert channel.runs["a"] == 2
    await supervisor.stop_all()
    assert state(status) is AccountState.STOPPED


async def test_a_standby_monitor_stops_with_the_gateway() -> None:
    supervisor, status, channel = start(GrantedByHand())
    await until(lambda: state(status) is AccountState.STANDBY)
    await supervisor.stop_all()
    assert channel.runs["a"] == 0
    assert state(status) is AccountState.STOPPED
