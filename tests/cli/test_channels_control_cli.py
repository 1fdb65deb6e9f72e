"""`channels login`, `logout` and `restart` against a gateway running in this process.

The gateway runs on the test's event loop with the real zalouser plugin and FakeZaloPersonal
on its own thread; the CLI runs on a worker thread (its own event loop) and finds the gateway
through the configured port and ``<state dir>/gateway.token``. Restart delays are an hour
long, so an account only starts again when the CLI asks for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.config import ZalogateConfig, parse_config
from zalogate.personal import Credentials
from zalogate.runtime.control import token_path, write_token_file
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.plugins import load_plugin
from zalogate.runtime.status import AccountState, AccountStatus
from zalogate.testing import FakeZaloPersonal

from .conftest import cli, free_port, run_cli
from .test_zalouser_cli import BOT, Phone, scan_and_confirm

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
WORK = "5100000000000000009"
"""The Zalo account of the ``work`` account (Zalo allows one web listener per account)."""
HOUR = BackoffConfig(min_delay=3600.0, max_delay=3600.0, jitter=0.0)
RESTARTED = "The running gateway restarted account default with the new session (now running)."


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


@pytest.fixture
def fake() -> Iterator[FakeZaloPersonal]:
    fake = FakeZaloPersonal(long_poll_s=0.2)
    fake.start_in_thread()
    fake.run(lambda: (fake.add_account(BOT, "Trợ lý Bot"), fake.add_account(WORK, "Shop")))
    yield fake
    fake.stop_thread()


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeZaloPersonal
) -> tuple[Path, ZalogateConfig]:
    """The state dir and the config the CLI and the gateway share (a port of its own)."""
    section = {
        "dmPolicy": "pairing",
        "groupPolicy": "allowlist",
        "accounts": {"default": {}, "work": {"profile": "work"}},
    }
    return shared_config(tmp_path, monkeypatch, fake, section)


def shared_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeZaloPersonal,
    section: dict[str, Any],
) -> tuple[Path, ZalogateConfig]:
    """Write a config with ``section`` as ``channels.zalouser`` (pointed at ``fake``) and a
    gateway port of its own, and point the CLI at it; return (state dir, the parsed config)."""
    state = tmp_path / "state"
    hosts = {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url}
    data: dict[str, Any] = {
        "gateway": {"host": "127.0.0.1", "port": free_port()},
        "channels": {"zalouser": {"apiHosts": hosts, "websocketUrl": fake.ws_url, **section}},
    }
    config_file = tmp_path / "zalogate.json5"
    config_file.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config_file))
    for name in ("ZALOUSER_PROFILE", "ZCA_PROFILE", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return state, parse_config(data, env={})


def save_session(
    fake: FakeZaloPersonal, state: Path, profile: str = "default", uid: str = BOT
) -> Path:
    jar = fake.run(lambda: fake.credentials(uid, user_agent=UA, domain="127.0.0.1"))
    return CredentialStore(state).save(profile, Credentials.from_json(jar), uid=uid)


@pytest.fixture
async def gateway(setup: tuple[Path, ZalogateConfig]) -> AsyncIterator[Gateway]:
    async with gateway_of(setup) as gateway:
        yield gateway


def record(gateway: Gateway, account: str = "default") -> AccountStatus:
    return next(r for r in gateway.status() if r.account == account)


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        while not predicate():
            await asyncio.sleep(0.01)


def listeners(fake: FakeZaloPersonal, uid: str = BOT) -> int:
    return fake.run(lambda: fake.listener_count(uid))


async def login(fake: FakeZaloPersonal, *args: str) -> int:
    def run() -> int:
        with Phone(fake, scan_and_confirm):
            return run_cli(["channels", "login", "--channel", "zalouser", *args])

    return await asyncio.to_thread(run)


@pytest.mark.timeout(60)
async def test_login_restarts_the_account_and_logout_stops_it(
    gateway: Gateway,
    fake: FakeZaloPersonal,
    setup: tuple[Path, ZalogateConfig],
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, _ = setup
    await until(lambda: record(gateway).state is AccountState.UNAUTHORIZED)
    await until(lambda: record(gateway, "work").state is AccountState.UNAUTHORIZED)
    assert "needs QR login" in (record(gateway).last_error or "")

    assert await login(fake) == 0
    out = capsys.readouterr().out
    assert "Login successful." in out
    assert RESTARTED in out
    assert "picks the new session up when it restarts" not in out
    assert record(gateway).state is AccountState.RUNNING  # not an hour later
    assert record(gateway).last_error is None
    await until(lambda: listeners(fake) == 1)
    assert record(gateway, "work").state is AccountState.UNAUTHORIZED  # not touched

    session = state / "credentials" / "zalouser" / "default.json"
    assert await cli("channels", "logout", "--channel", "zalouser") == 0
    out = capsys.readouterr().out
    assert "The running gateway stopped account default." in out
    assert "Logged out and cleared local session." in out
    assert out.index("stopped account") < out.index("Logged out")
    stopped = record(gateway)
    assert (stopped.state, stopped.reason) == (AccountState.STOPPED, "stopped by channels logout")
    assert not session.exists()
    await until(lambda: listeners(fake) == 0)

    assert await cli("channels", "status", "--channel", "zalouser") == 0
    assert "stopped by channels logout" in capsys.readouterr().out

    await gateway.stop()
    assert not session.exists()  # the stopped listener did not write its cookies back
    assert not token_path(state).exists()


@pytest.mark.timeout(60)
async def test_restart_after_another_zalo_web_session_closed_the_listener(
    fake: FakeZaloPersonal,
    setup: tuple[Path, ZalogateConfig],
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, _ = setup
    save_session(fake, state)
    save_session(fake, state, profile="work", uid=WORK)
    async with gateway_of(setup) as gateway:
        await until(lambda: record(gateway).state is AccountState.RUNNING)
        await until(lambda: listeners(fake) == 1 and listeners(fake, WORK) == 1)
        fake.run(fake.duplicate_connection(BOT))
        await until(lambda: record(gateway).state is AccountState.FAILED)
        work_started = record(gateway, "work").last_start_at
        error = record(gateway).last_error or ""
        assert "close 3000" in error
        assert error.endswith("then run: zalogate channels restart --channel zalouser")

        assert await cli("channels", "restart", "--channel", "zalouser") == 0
        out = capsys.readouterr().out
        assert "The running gateway restarted account zalouser/default (now running)." in out
        assert record(gateway).state is AccountState.RUNNING
        assert record(gateway, "work").last_start_at == work_started  # the other one ran on

        assert await cli("channels", "restart", "--channel", "zlu", "--account", "work") == 0
        assert "restarted account zalouser/work (now running)." in capsys.readouterr().out
        assert record(gateway, "work").last_start_at != work_started

        assert await cli("channels", "restart", "--channel", "zalouser", "--json") == 0
        body = json.loads(capsys.readouterr().out)
        assert body["account"]["state"] == "running"
        assert body["account"]["account"] == "default"


@pytest.mark.timeout(60)
async def test_restart_reports_an_account_that_still_cannot_run(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    await until(lambda: record(gateway).state is AccountState.UNAUTHORIZED)
    assert await cli("channels", "restart", "--channel", "zalouser") == 0
    out = capsys.readouterr().out
    assert "restarted account zalouser/default (now unauthorized)." in out
    assert "last error: NeedsLoginError" in out
    assert "needs QR login" in out


@pytest.mark.timeout(60)
async def test_restart_without_a_gateway_is_an_error(
    setup: tuple[Path, ZalogateConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("channels", "restart", "--channel", "zalouser") == 1
    err = capsys.readouterr().err
    assert "no gateway answers at http://127.0.0.1:" in err
    assert "zalogate gateway run" in err
    assert "nothing was restarted" in err


@pytest.mark.timeout(60)
async def test_restart_without_the_token_file_or_with_a_stale_one_is_an_error(
    gateway: Gateway, setup: tuple[Path, ZalogateConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    state, _ = setup
    real = token_path(state).read_text()
    token_path(state).unlink()
    assert await cli("channels", "restart", "--channel", "zalouser") == 1
    err = capsys.readouterr().err
    assert f"left no control token in {token_path(state)}" in err

    write_token_file(state, "a-token-of-an-older-gateway")
    assert await cli("channels", "restart", "--channel", "zalouser") == 1
    err = capsys.readouterr().err
    assert "refused the control token" in err
    assert "a-token-of-an-older-gateway" not in err
    assert real.strip() not in err
    assert record(gateway).restarts == 1  # the start-up failure only: nothing was restarted


@pytest.mark.timeout(60)
async def test_restart_of_an_unknown_account_fails_before_asking(
    setup: tuple[Path, ZalogateConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("channels", "restart", "--channel", "zalouser", "--account", "nope") == 1
    assert "unknown zalouser account 'nope' (configured: default, work)" in (
        capsys.readouterr().err
    )
    # Without --channel: the one configured channel, asked like the rest (no gateway here).
    assert await cli("channels", "restart") == 1
    capsys.readouterr()


@pytest.mark.timeout(60)
async def test_login_and_logout_without_a_gateway_keep_todays_messages(
    fake: FakeZaloPersonal,
    setup: tuple[Path, ZalogateConfig],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await login(fake) == 0
    out = capsys.readouterr().out
    assert "A running gateway picks the new session up when it restarts" in out
    assert "restarted" not in out
    assert await cli("channels", "logout", "--channel", "zalouser") == 0
    out = capsys.readouterr().out
    assert out.strip() == "Logged out and cleared local session."


@pytest.mark.timeout(60)
async def test_login_with_a_gateway_but_no_token_file_says_what_to_do(
    gateway: Gateway,
    fake: FakeZaloPersonal,
    setup: tuple[Path, ZalogateConfig],
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, _ = setup
    await until(lambda: record(gateway).state is AccountState.UNAUTHORIZED)
    token_path(state).unlink()
    assert await login(fake) == 0
    out = capsys.readouterr().out
    assert f"left no control token in {token_path(state)}" in out
    assert "To use the new session now: zalogate channels restart --channel zalouser" in out
    assert record(gateway).state is AccountState.UNAUTHORIZED  # not asked, still waiting

    assert await cli("channels", "logout", "--channel", "zalouser") == 0
    out = capsys.readouterr().out
    assert "keeps listening with the old session until it restarts" in out
    assert "Logged out and cleared local session." in out


def gateway_of(setup: tuple[Path, ZalogateConfig]) -> Gateway:
    state, config = setup
    return Gateway(
        config,
        state_dir=state,
        channels=[load_plugin("zalouser")],
        agent=EchoAgent(),
        backoff=HOUR,
        unauthorized_backoff=HOUR,
        startup_grace=0.05,
        configure_logs=False,
        shutdown_timeout=5.0,
    )
