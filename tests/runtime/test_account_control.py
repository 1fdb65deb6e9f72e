"""Gateway.restart_account / stop_account: one account restarted or stopped on request, the
others untouched; a failed account or one waiting in backoff starts again at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.core.channel import (
    Admission,
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    ProbeResult,
)
from zalogate.core.errors import ChannelError, FailureKind
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.runtime.control import ControlUnavailableError, UnknownAccountError
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.status import AccountState, AccountStatus
from zalogate.runtime.wiring import GatewayWiring, Handler
from zalogate.store import Store

TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)
LONG = BackoffConfig(min_delay=3600.0, max_delay=3600.0, jitter=0.0)
"""A restart delay no test waits out: a new run can only come from restart_account."""


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


class FatalError(ChannelError):
    kind = FailureKind.FATAL


class ScriptedChannel(Channel):
    """Each run of an account pops the next entry of its script: an exception class to
    raise, or None to run until stopped. An empty script runs until stopped."""

    id = "fake"
    text_limit = 2000

    def __init__(self, account_ids: Sequence[str], scripts: dict[str, list[Any]]) -> None:
        self._accounts = [ChannelAccount("fake", a, True, {}) for a in account_ids]
        self.scripts = scripts
        self.runs: dict[str, int] = defaultdict(int)
        self.stopped: dict[str, int] = defaultdict(int)
        self.resets: list[str] = []
        self.ignore_stop: set[str] = set()

    def accounts(self) -> Sequence[ChannelAccount]:
        return [*self._accounts, ChannelAccount("fake", "off", False, {})]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        self.runs[account.account_id] += 1
        script = self.scripts.get(account.account_id, [])
        failure = script.pop(0) if script else None
        if failure is not None:
            raise failure("scripted failure")
        if account.account_id in self.ignore_stop:
            await asyncio.sleep(3600)
        await stop.wait()
        self.stopped[account.account_id] += 1

    def reset_account(self, account: ChannelAccount) -> None:
        self.resets.append(account.account_id)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        return DeliveryReceipt(message_ids=())

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


class NullInbox:
    def __init__(self, store: Store, handler: Handler) -> None:
        pass

    async def admit(self, message: InboundMessage) -> Admission:
        return Admission(1)

    async def start(self) -> None:
        pass

    async def stop(self, timeout: float = 10.0) -> None:
        pass


def make_gateway(
    tmp_path: Path,
    channel: ScriptedChannel,
    *,
    backoff: BackoffConfig = TINY,
    **options: Any,
) -> Gateway:
    def handler_factory(wiring: GatewayWiring) -> Handler:
        async def handle(message: InboundMessage) -> None:
            return None

        return handle

    def create(context: ChannelContext) -> Channel:
        return channel

    defaults: dict[str, Any] = {
        "channels": [ChannelPlugin(id="fake", label="Fake", create=create)],
        "agent": SimpleNamespace(id="test-agent"),
        "handler_factory": handler_factory,
        "inbox_factory": NullInbox,
        "backoff": backoff,
        "unauthorized_backoff": backoff,
        "startup_grace": 0.01,
        "shutdown_timeout": 2.0,
        "configure_logs": False,
        "http_port": 0,
    }
    defaults.update(options)
    config = SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0, log_level="info"))
    return Gateway(config, state_dir=tmp_path / "state", **defaults)


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.005)


def state_of(gateway: Gateway, account: str) -> AccountStatus:
    return next(r for r in gateway.status() if r.account == account)


def is_running(gateway: Gateway, account: str) -> Callable[[], bool]:
    return lambda: state_of(gateway, account).state is AccountState.RUNNING


@pytest.mark.timeout(20)
async def test_a_failed_account_is_started_again(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a", "b"], {"a": [FatalError]})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(lambda: state_of(gateway, "a").state is AccountState.FAILED)
        await until(is_running(gateway, "b"))
        assert "scripted failure" in (state_of(gateway, "a").last_error or "")

        record = await gateway.restart_account("fake", "a")

        assert record.state is AccountState.RUNNING
        assert record.last_error is None
        assert channel.runs["a"] == 2
        assert channel.resets == ["a"]
        # The other account was not touched.
        assert channel.runs["b"] == 1
        assert channel.stopped["b"] == 0
        assert state_of(gateway, "b").state is AccountState.RUNNING


@pytest.mark.timeout(20)
async def test_an_account_waiting_in_backoff_is_started_now(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {"a": [ConnectionError]})
    async with make_gateway(tmp_path, channel, backoff=LONG) as gateway:
        await until(lambda: state_of(gateway, "a").state is AccountState.BACKOFF)
        assert channel.runs["a"] == 1  # the next try would be an hour away

        record = await gateway.restart_account("fake", "a")

        assert record.state is AccountState.RUNNING
        assert channel.runs["a"] == 2
        assert record.restarts == 1  # the count goes on; only the delays start over


@pytest.mark.timeout(20)
async def test_restarting_a_running_account_stops_its_run_and_starts_a_new_one(
    tmp_path: Path,
) -> None:
    channel = ScriptedChannel(["a", "b"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        await until(is_running(gateway, "b"))

        record = await gateway.restart_account("fake", "a")

        assert record.state is AccountState.RUNNING
        assert (channel.runs["a"], channel.stopped["a"]) == (2, 1)
        assert (channel.runs["b"], channel.stopped["b"]) == (1, 0)


@pytest.mark.timeout(20)
async def test_a_restarted_account_that_fails_again_reports_it(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {"a": [FatalError, FatalError]})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(lambda: state_of(gateway, "a").state is AccountState.FAILED)
        record = await gateway.restart_account("fake", "a")
    assert record.state is AccountState.FAILED
    assert "scripted failure" in (record.last_error or "")


@pytest.mark.timeout(20)
async def test_a_stopped_account_stays_stopped_until_restarted(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a", "b"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        await until(is_running(gateway, "b"))

        record = await gateway.stop_account("fake", "a", reason="stopped by channels logout")

        assert record.state is AccountState.STOPPED
        assert record.reason == "stopped by channels logout"
        assert record.last_stop_at is not None
        assert channel.stopped["a"] == 1
        assert channel.resets == ["a"]
        await asyncio.sleep(0.05)  # well past TINY's delays: no restart
        assert channel.runs["a"] == 1
        assert state_of(gateway, "a").state is AccountState.STOPPED
        assert state_of(gateway, "b").state is AccountState.RUNNING
        assert channel.stopped["b"] == 0

        again = await gateway.stop_account("fake", "a")  # stopping twice is fine
        assert (again.state, again.reason) == (AccountState.STOPPED, "stopped on request")

        record = await gateway.restart_account("fake", "a")
        assert record.state is AccountState.RUNNING
        assert record.reason is None
        assert channel.runs["a"] == 2
    assert state_of(gateway, "a").state is AccountState.STOPPED  # by the gateway's own stop


@pytest.mark.timeout(20)
async def test_unknown_channel_account_or_a_disabled_account_is_a_clear_error(
    tmp_path: Path,
) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        with pytest.raises(UnknownAccountError, match="no channel 'nope'"):
            await gateway.restart_account("nope", "a")
        with pytest.raises(UnknownAccountError, match=r"no fake account 'zz'.*running: a"):
            await gateway.stop_account("fake", "zz")
        with pytest.raises(UnknownAccountError, match="no fake account 'off'"):
            await gateway.restart_account("fake", "off")  # disabled: never supervised
        assert (await gateway.restart_account("fake", "A")).account == "a"


@pytest.mark.timeout(20)
async def test_no_control_once_the_gateway_is_stopping(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        gateway.request_stop()
        with pytest.raises(ControlUnavailableError, match="stopping"):
            await gateway.restart_account("fake", "a")
    assert channel.runs["a"] == 1


@pytest.mark.timeout(20)
async def test_a_monitor_that_ignores_its_stop_event_is_cancelled(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    channel.ignore_stop.add("a")
    async with make_gateway(tmp_path, channel, shutdown_timeout=0.5) as gateway:
        await until(is_running(gateway, "a"))
        record = await gateway.stop_account("fake", "a")
        assert record.state is AccountState.STOPPED
        channel.ignore_stop.clear()
        assert (await gateway.restart_account("fake", "a")).state is AccountState.RUNNING


@pytest.mark.timeout(20)
async def test_concurrent_control_of_two_accounts(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a", "b", "c"], {"b": [FatalError]})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        await until(lambda: state_of(gateway, "b").state is AccountState.FAILED)
        await until(is_running(gateway, "c"))
        stopped, restarted = await asyncio.gather(
            gateway.stop_account("fake", "a"), gateway.restart_account("fake", "b")
        )
        assert stopped.state is AccountState.STOPPED
        assert restarted.state is AccountState.RUNNING
        assert (channel.runs["c"], channel.stopped["c"]) == (1, 0)
