"""The gateway supervises channel monitors: restarts with backoff, isolation, status, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest

import zalogate.runtime.gateway as gateway_module
from zalogate.backoff import BackoffConfig
from zalogate.core.channel import (
    Admission,
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    Directory,
    DirectoryEntry,
    ProbeResult,
)
from zalogate.core.errors import ChannelError, FailureKind
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.secrets import collect_secrets
from zalogate.runtime.status import AccountState, AccountStatus
from zalogate.runtime.supervisor import classify_failure
from zalogate.runtime.wiring import GatewayWiring, Handler
from zalogate.store import Store

TOKEN = "1234567890:SuperSecretBotTokenValue_x"
TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)

Failure = Callable[[], BaseException]


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


class UnauthorizedMonitorError(ChannelError):
    kind = FailureKind.UNAUTHORIZED


class HttpStatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class FatalMonitorError(ChannelError):
    kind = FailureKind.FATAL


class FakeChannel(Channel):
    """A channel whose monitors fail as scripted, then admit one message and wait for stop."""

    id = "fake"
    text_limit = 2000

    def __init__(
        self,
        context: ChannelContext,
        account_ids: Sequence[str],
        failures: dict[str, list[Failure | None]],
        *,
        ignore_stop: bool = False,
    ) -> None:
        self.context = context
        self._accounts = [ChannelAccount("fake", a, True, {"token": TOKEN}) for a in account_ids]
        self.failures = failures
        self.ignore_stop = ignore_stop
        self.runs: dict[str, int] = defaultdict(int)
        self.sent: list[tuple[str, str]] = []

    def accounts(self) -> Sequence[ChannelAccount]:
        return [*self._accounts, ChannelAccount("fake", "disabled", False, {})]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        self.runs[account.account_id] += 1
        script = self.failures.get(account.account_id, [])
        if script:
            failure = script.pop(0) if len(script) > 1 else script[0]
            if failure is not None:
                raise failure()
        await self.context.inbox.admit(message(account.account_id, self.runs[account.account_id]))
        if self.ignore_stop:
            await asyncio.sleep(3600)
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent.append((target, reply.text))
        return DeliveryReceipt(message_ids=(f"out-{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


def message(account_id: str, n: int) -> InboundMessage:
    return InboundMessage(
        channel="fake",
        account_id=account_id,
        chat_type=ChatType.DIRECT,
        chat_id=f"chat-{account_id}",
        sender_id="user-1",
        message_id=f"{account_id}-{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=f"hello {n}",
    )


class FakeInbox:
    """Hands every admitted message straight to the handler."""

    def __init__(self, store: Store, handler: Handler) -> None:
        self.handler = handler
        self.started = False
        self.stopped = False
        self.count = 0

    async def admit(self, message: InboundMessage) -> Admission:
        self.count += 1
        await self.handler(message)
        return Admission(self.count)

    async def start(self) -> None:
        self.started = True

    async def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True


class Harness:
    """Builds a gateway around one FakeChannel and records what happens."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.channel: FakeChannel | None = None
        self.inbox: FakeInbox | None = None
        self.handled: list[InboundMessage] = []
        self.history: list[AccountStatus] = []
        self.reply = True

    def gateway(
        self,
        account_ids: Sequence[str],
        failures: dict[str, list[Failure | None]],
        **options: Any,
    ) -> Gateway:
        ignore_stop = bool(options.pop("ignore_stop", False))

        def create(context: ChannelContext) -> Channel:
            self.channel = FakeChannel(context, account_ids, failures, ignore_stop=ignore_stop)
            return self.channel

        def handler_factory(wiring: GatewayWiring) -> Handler:
            async def handle(msg: InboundMessage) -> None:
                self.handled.append(msg)
                if self.reply:
                    channel = wiring.channels[msg.channel]
                    account = next(a for a in channel.accounts() if a.account_id == msg.account_id)
                    receipt = await channel.send(account, msg.chat_id, ReplyPayload(text=msg.text))
                    if receipt.message_ids:
                        wiring.record_outbound(msg.channel, msg.account_id)

            return handle

        def inbox_factory(store: Store, handler: Handler) -> FakeInbox:
            self.inbox = FakeInbox(store, handler)
            return self.inbox

        config = options.pop(
            "config",
            SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0, log_level="info")),
        )
        defaults: dict[str, Any] = {
            "channels": [ChannelPlugin(id="fake", label="Fake", create=create)],
            "agent": SimpleNamespace(id="test-agent"),
            "handler_factory": handler_factory,
            "inbox_factory": inbox_factory,
            "backoff": TINY,
            "unauthorized_backoff": TINY,
            "startup_grace": 0.01,
            "shutdown_timeout": 2.0,
            "configure_logs": False,
        }
        defaults.update(options)
        gateway = Gateway(config, state_dir=self.tmp_path / "state", **defaults)
        gateway.status_board.subscribe(self.history.append)
        return gateway

    def states(self, account: str) -> list[AccountState]:
        states = [r.state for r in self.history if r.account == account]
        return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


def state_of(gateway: Gateway, account: str) -> AccountStatus:
    return next(r for r in gateway.status() if r.account == account)


@pytest.mark.timeout(20)
async def test_monitor_that_fails_twice_is_restarted_until_it_runs(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    boom: Failure = lambda: RuntimeError(f"POST /bot{TOKEN}/getUpdates failed")  # noqa: E731
    gateway = harness.gateway(["a"], {"a": [boom, boom, None]})
    async with gateway:
        await wait_for(lambda: state_of(gateway, "a").state is AccountState.RUNNING)
        record = state_of(gateway, "a")
    assert harness.channel is not None
    assert harness.channel.runs["a"] == 3
    assert record.restarts == 2
    assert record.last_error is not None
    assert "RuntimeError" in record.last_error
    assert TOKEN not in record.last_error
    assert harness.states("a") == [
        AccountState.STARTING,
        AccountState.BACKOFF,
        AccountState.STARTING,
        AccountState.BACKOFF,
        AccountState.STARTING,
        AccountState.RUNNING,
        AccountState.STOPPED,
    ]
    assert state_of(gateway, "a").state is AccountState.STOPPED


@pytest.mark.timeout(20)
async def test_failing_account_does_not_stop_the_others(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    always: Failure = lambda: ConnectionError("network down")  # noqa: E731
    gateway = harness.gateway(["bad", "good"], {"bad": [always]})
    async with gateway:
        await wait_for(lambda: state_of(gateway, "bad").restarts >= 3)
        await wait_for(lambda: state_of(gateway, "good").state is AccountState.RUNNING)
        bad = state_of(gateway, "bad")
        good = state_of(gateway, "good")
    assert bad.state in (AccountState.BACKOFF, AccountState.STARTING)
    assert good.last_error is None
    assert [m.account_id for m in harness.handled] == ["good"]
    assert {r.account for r in gateway.status()} == {"bad", "good"}  # "disabled" not run


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "failure",
    [
        UnauthorizedMonitorError,
        lambda: HttpStatusError(401),
        lambda: _wrapped(HttpStatusError(403)),
    ],
)
async def test_unauthorized_monitor_is_marked_and_retried(tmp_path: Path, failure: Failure) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {"a": [failure]})
    async with gateway:
        await wait_for(lambda: state_of(gateway, "a").restarts >= 2)
    assert AccountState.UNAUTHORIZED in harness.states("a")
    assert AccountState.BACKOFF not in harness.states("a")


def _wrapped(cause: BaseException) -> BaseException:
    try:
        raise cause
    except BaseException as exc:
        error = RuntimeError("monitor failed")
        error.__cause__ = exc
        return error


@pytest.mark.timeout(20)
async def test_fatal_failure_is_not_restarted(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {"a": [FatalMonitorError]})
    async with gateway:
        await wait_for(lambda: state_of(gateway, "a").state is AccountState.FAILED)
        await asyncio.sleep(0.05)
    assert harness.channel is not None
    assert harness.channel.runs["a"] == 1
    assert state_of(gateway, "a").state is AccountState.FAILED


@pytest.mark.timeout(20)
async def test_inbound_and_outbound_times_are_tracked_and_shown_by_healthz(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {})
    async with gateway:
        await wait_for(lambda: bool(harness.channel and harness.channel.sent))
        await wait_for(lambda: state_of(gateway, "a").state is AccountState.RUNNING)
        # The handler stamps the outbound right after the send returns.
        await wait_for(lambda: state_of(gateway, "a").last_outbound_at is not None)
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            body = (await client.get("/healthz")).json()
    assert body["ok"] is True
    [account] = body["accounts"]
    assert account["channel"] == "fake"
    assert account["account"] == "a"
    assert account["state"] == "running"
    assert isinstance(account["lastInboundAt"], int)
    assert isinstance(account["lastOutboundAt"], int)
    assert account["lastOutboundAt"] >= account["lastInboundAt"]
    assert TOKEN not in str(body)


@pytest.mark.timeout(20)
async def test_stop_completes_even_when_a_monitor_ignores_the_stop_event(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {}, ignore_stop=True, shutdown_timeout=0.5)
    async with gateway:
        await wait_for(lambda: bool(harness.handled))
    assert harness.inbox is not None
    assert harness.inbox.started
    assert harness.inbox.stopped
    assert not gateway.http.running
    assert gateway.store is not None
    assert gateway.store.closed


@pytest.mark.timeout(20)
async def test_request_stop_ends_wait(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {})
    async with gateway:
        asyncio.get_running_loop().call_later(0.01, gateway.request_stop)
        await gateway.wait()
    assert gateway.stopping


@pytest.mark.timeout(20)
async def test_failed_start_undoes_what_was_started(tmp_path: Path) -> None:
    def broken(context: ChannelContext) -> Channel:
        raise RuntimeError("cannot create")

    harness = Harness(tmp_path)
    gateway = harness.gateway(
        ["a"], {}, channels=[ChannelPlugin(id="broken", label="Broken", create=broken)]
    )
    with pytest.raises(RuntimeError, match="cannot create"):
        await gateway.start()
    assert gateway.store is not None
    assert gateway.store.closed
    assert not gateway.http.running


class _ClosableAgent:
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


@pytest.mark.timeout(20)
async def test_gateway_closes_the_agent_it_created_but_not_one_handed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _ClosableAgent()
    monkeypatch.setattr(gateway_module, "default_agent", lambda config, store, *_rest: created)
    async with Harness(tmp_path).gateway(["a"], {}, agent=None):
        assert created.closed == 0
    assert created.closed == 1

    handed_in = _ClosableAgent()
    async with Harness(tmp_path / "second").gateway(["a"], {}, agent=handed_in):
        pass
    assert handed_in.closed == 0


@pytest.mark.timeout(20)
async def test_echo_agent_is_announced_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(tmp_path)
    gateway = harness.gateway(["a"], {}, agent=SimpleNamespace(id="echo"))
    with caplog.at_level(logging.WARNING, logger="zalogate.gateway"):
        async with gateway:
            pass
    assert "echo" in capsys.readouterr().err
    assert any(r.levelno == logging.WARNING and "echo" in r.getMessage() for r in caplog.records)


@pytest.mark.timeout(20)
async def test_configured_secrets_never_reach_the_log_file(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    secret = "webhook-secret-without-any-pattern"
    config = SimpleNamespace(
        gateway=SimpleNamespace(host="127.0.0.1", port=0, log_level="debug"),
        channels={"fake": {"webhookSecret": secret, "accounts": {"a": {"botToken": TOKEN}}}},
    )
    gateway = harness.gateway(["a"], {}, config=config, configure_logs=True, console_log=False)
    async with gateway:
        logging.getLogger("zalogate.channels.fake").info("secret is %s", secret)
        logging.getLogger("zalogate.channels.fake").info("token is %s", TOKEN)
    text = gateway.log_file.read_text(encoding="utf-8")
    assert "secret is" in text
    assert "token is" in text
    assert secret not in text
    assert TOKEN not in text
    assert "gateway listening on" in text


@pytest.mark.timeout(20)
async def test_a_secret_a_channel_learns_at_run_time_never_reaches_the_log_file(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    learned = "refreshed-access-token-4f1c9a"  # matches no built-in token pattern
    config = SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0, log_level="debug"))
    gateway = harness.gateway(["a"], {}, config=config, configure_logs=True, console_log=False)
    async with gateway:
        assert harness.channel is not None
        harness.channel.context.register_secret(learned)
        logging.getLogger("zalogate.channels.fake").info("new token %s", learned)
    text = gateway.log_file.read_text(encoding="utf-8")
    assert "new token" in text
    assert learned not in text


def test_failures_are_classified() -> None:
    assert classify_failure(UnauthorizedMonitorError()) is AccountState.UNAUTHORIZED
    assert classify_failure(HttpStatusError(403)) is AccountState.UNAUTHORIZED
    assert classify_failure(_wrapped(HttpStatusError(401))) is AccountState.UNAUTHORIZED
    assert classify_failure(HttpStatusError(500)) is AccountState.BACKOFF
    assert classify_failure(FatalMonitorError()) is AccountState.FAILED
    assert classify_failure(TimeoutError()) is AccountState.BACKOFF

    class ZaloUnauthorizedError(Exception):
        pass

    # A class name alone classifies nothing: a channel says UNAUTHORIZED with its error's kind.
    assert classify_failure(ZaloUnauthorizedError()) is AccountState.BACKOFF


def test_secrets_are_collected_from_secret_looking_fields() -> None:
    config = {
        "channels": {
            "zalo": {"botToken": "t1", "tokenFile": "/path", "webhookSecret": "s1"},
            "zalouser": {"accounts": {"x": {"cookies": ["c1", "c2"], "name": "Alice"}}},
        },
        "agent": {"api_key": "k1", "model": "m"},
    }
    assert collect_secrets(config) == {"t1", "s1", "c1", "c2", "k1"}


async def test_send_tracking_keeps_the_channels_optional_capabilities(tmp_path: Path) -> None:
    class DirectoryChannel(FakeChannel):
        @property
        def directory(self) -> Directory:
            return self

        async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
            return DirectoryEntry(id="me")

        async def directory_peers(
            self, account: ChannelAccount, query: str | None = None, limit: int | None = None
        ) -> Sequence[DirectoryEntry]:
            return []

        async def directory_groups(
            self, account: ChannelAccount, query: str | None = None, limit: int | None = None
        ) -> Sequence[DirectoryEntry]:
            return []

    harness = Harness(tmp_path)
    gateway = harness.gateway(
        ["a"],
        {},
        channels=[
            ChannelPlugin(
                id="fake", label="Fake", create=lambda ctx: DirectoryChannel(ctx, ["a"], {})
            )
        ],
    )
    async with gateway:
        channel = gateway.channels["fake"]
        directory = channel.directory
        assert isinstance(directory, Directory)
        account = channel.accounts()[0]
        assert (await directory.directory_self(account)).id == "me"


@pytest.mark.timeout(20)
async def test_default_wiring_runs_messages_through_inbox_pipeline_and_echo_agent(
    tmp_path: Path,
) -> None:
    from zalogate.agents import EchoAgent

    class OpenChannel(FakeChannel):
        def accounts(self) -> Sequence[ChannelAccount]:
            return [ChannelAccount("fake", "a", True, {"dmPolicy": "open", "allowFrom": ["*"]})]

    channels: list[OpenChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(OpenChannel(context, ["a"], {}))
        return channels[0]

    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="fake", label="Fake", create=create)],
        agent=EchoAgent(),
        backoff=TINY,
        startup_grace=0.01,
        configure_logs=False,
    )
    async with gateway:
        await wait_for(lambda: bool(channels and channels[0].sent))
        await wait_for(lambda: state_of(gateway, "a").last_outbound_at is not None)
    assert channels[0].sent == [("chat-a", "hello 1")]


async def test_a_channel_built_policy_is_asked_again_for_every_message(tmp_path: Path) -> None:
    """zalouser's policy changes once its monitor has resolved names: never cache it."""
    from zalogate.agents import EchoAgent
    from zalogate.core.access import AccountPolicy, policy_from_settings

    class ResolvingChannel(FakeChannel):
        def __init__(self, context: ChannelContext) -> None:
            super().__init__(context, ["a"], {})
            self.policy_calls = 0

        def policy(self, account: ChannelAccount) -> AccountPolicy:
            self.policy_calls += 1
            # Unresolved at first (nobody may write), resolved from the second message on.
            settings = (
                {"dmPolicy": "disabled"}
                if self.policy_calls == 1
                else {"dmPolicy": "open", "allowFrom": ["*"]}
            )
            return policy_from_settings("fake", settings)

        async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
            for n in (1, 2):
                await self.context.inbox.admit(message(account.account_id, n))
            await stop.wait()

    channels: list[ResolvingChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(ResolvingChannel(context))
        return channels[0]

    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="fake", label="Fake", create=create)],
        agent=EchoAgent(),
        backoff=TINY,
        startup_grace=0.01,
        configure_logs=False,
    )
    async with gateway:
        await wait_for(lambda: bool(channels and channels[0].sent))
    assert channels[0].sent == [("chat-a", "hello 2")]
    assert channels[0].policy_calls >= 2


SIGNAL_SCRIPT = """
import asyncio, sys
from pathlib import Path
from types import SimpleNamespace
from zalogate.agents import EchoAgent
from zalogate.runtime.gateway import Gateway

async def main() -> None:
    config = SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0))
    gateway = Gateway(
        config, state_dir=Path(sys.argv[1]), channels=[], agent=EchoAgent(),
        handle_signals=True, console_log=False,
    )
    async with gateway:
        print(gateway.http.port, flush=True)
        await gateway.wait()
    print("clean exit", flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_gateway_process_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        response = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert response.json()["ok"] is True
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "clean exit" in out
    log_text = (state_dir / "logs" / "gateway.log").read_text(encoding="utf-8")
    assert "shutting down" in log_text
    assert "gateway stopped" in log_text


def test_only_channels_written_in_the_config_and_enabled_are_started() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    from zalogate.runtime.wiring import channel_configured as _channel_configured

    class Section(BaseModel):
        enabled: bool = True

    class Channels(BaseModel):
        model_config = ConfigDict(populate_by_name=True)
        zalo: Section = Section()
        zalouser: Section = Field(default_factory=Section, alias="zalouser")

    assert not _channel_configured(Channels(), "zalo")
    assert _channel_configured(Channels(zalo=Section()), "zalo")
    assert not _channel_configured(Channels(zalo=Section(enabled=False)), "zalo")
    assert not _channel_configured(None, "zalo")
    assert _channel_configured({"zalo": {}}, "zalo")
    assert not _channel_configured({"zalo": {"enabled": False}}, "zalo")
