"""The supervisor's lease gate (cluster mode): a monitor runs only while its node holds the
account's lease, stands by otherwise, and stops when the lease is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from zalogate.backoff import BackoffConfig
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.runtime.status import AccountState, StatusBoard
from zalogate.runtime.supervisor import Supervisor

TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)


class RunningChannel(Channel):
    id = "fake"
    text_limit = 2000

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.runs = 0
        self.stops = 0

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ChannelAccount("fake", "a", True, {})]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        self.runs += 1
        self.running.set()
        await stop.wait()
        self.running.clear()
        self.stops += 1

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        return DeliveryReceipt(message_ids=())

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


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


def make_supervisor(status: StatusBoard, leases: GrantedByHand) -> Supervisor:
    return Supervisor(
        status,
        backoff=TINY,
        slow_backoff=TINY,
        startup_grace=0.01,
        shutdown_timeout=2.0,
        stopping=lambda: False,
        leases=leases,
    )


async def wait_state(status: StatusBoard, state: AccountState) -> None:
    async with asyncio.timeout(5):
        while (record := status.get("fake", "a")) is None or record.state is not state:
            await asyncio.sleep(0.005)


async def test_a_monitor_waits_for_its_lease_and_stops_when_it_is_lost() -> None:
    status = StatusBoard()
    leases = GrantedByHand()
    channel = RunningChannel()
    supervisor = make_supervisor(status, leases)
    supervisor.start(channel, channel.accounts()[0])
    await wait_state(status, AccountState.STANDBY)
    assert channel.runs == 0

    leases.granted.set()
    await asyncio.wait_for(channel.running.wait(), 5)
    await wait_state(status, AccountState.RUNNING)

    leases.lost.set()  # another node has it now
    await wait_state(status, AccountState.STANDBY)
    assert channel.stops == 1
    assert not channel.running.is_set()

    leases.granted.set()  # and back
    await asyncio.wait_for(channel.running.wait(), 5)
    assert channel.runs == 2
    await supervisor.stop_all()
    assert status.get("fake", "a").state is AccountState.STOPPED  # type: ignore[union-attr]


async def test_a_standby_monitor_stops_with_the_gateway() -> None:
    status = StatusBoard()
    channel = RunningChannel()
    supervisor = make_supervisor(status, GrantedByHand())
    supervisor.start(channel, channel.accounts()[0])
    await wait_state(status, AccountState.STANDBY)
    await supervisor.stop_all()
    assert channel.runs == 0
    assert status.get("fake", "a").state is AccountState.STOPPED  # type: ignore[union-attr]
