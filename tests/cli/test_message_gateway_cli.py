"""`message send` through a gateway running in this process, or from the CLI process.

The gateway runs on the test's event loop (real zalouser plugin against FakeZaloPersonal on
its own thread, or the zalo plugin against FakeZaloBotApi); the CLI runs on a worker thread
and finds the gateway through the configured port and ``<state dir>/gateway.token``. A send
through the gateway leaves a ``control:`` row in ``pipeline_deliveries`` and stamps the
account's last outbound; one from the CLI process does neither.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.config import ZalogateConfig, parse_config
from zalogate.runtime.control import token_path, write_token_file
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.plugins import load_plugin
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloBotApi, FakeZaloPersonal

from .conftest import cli, free_port
from .test_channels_control_cli import (
    BOT,
    HOUR,
    gateway_of,
    listeners,
    record,
    save_session,
    shared_config,
    until,
)

ALICE = "5200000000000000002"


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


async def control_rows(gateway: Gateway) -> list[dict[str, Any]]:
    assert gateway.store is not None
    rows = await gateway.store.fetchall(
        "SELECT channel, account_id, target, status, message_ids FROM pipeline_deliveries"
        " WHERE message_id LIKE 'control:%' ORDER BY created_at_ms"
    )
    return [dict(row) for row in rows]


# -- zalouser --------------------------------------------------------------------------------


@pytest.fixture
def personal() -> Iterator[FakeZaloPersonal]:
    fake = FakeZaloPersonal(long_poll_s=0.2)
    fake.start_in_thread()

    def world() -> None:
        fake.add_account(BOT, "Trợ lý Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")

    fake.run(world)
    yield fake
    fake.stop_thread()


@pytest.fixture
def zsetup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, personal: FakeZaloPersonal
) -> tuple[Path, ZalogateConfig]:
    setup = shared_config(tmp_path, monkeypatch, personal, {})
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 quarterly numbers\n")
    monkeypatch.chdir(tmp_path)  # --media report.pdf is relative: the CLI resolves it
    return setup


@pytest.fixture
async def running(
    personal: FakeZaloPersonal, zsetup: tuple[Path, ZalogateConfig]
) -> AsyncIterator[Gateway]:
    """A gateway whose zalouser account runs with a saved session."""
    save_session(personal, zsetup[0])
    async with gateway_of(zsetup) as gateway:
        await until(lambda: record(gateway).state is AccountState.RUNNING)
        await until(lambda: listeners(personal) == 1)
        yield gateway


SEND_FILE = [
    "message",
    "send",
    "--channel",
    "zalouser",
    "--target",
    ALICE,
    "--media",
    "report.pdf",
]


def sent_of(fake: FakeZaloPersonal, *kinds: str) -> list[Any]:
    return fake.run(lambda: [r for r in fake.sent if r.kind in kinds])


@pytest.mark.timeout(60)
async def test_a_file_goes_through_the_running_gateway(
    running: Gateway, personal: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(*SEND_FILE, "-m", "báo cáo quý") == 0
    out = capsys.readouterr().out
    file_record, caption = sent_of(personal, "file", "text")
    assert (file_record.kind, file_record.thread_id, file_record.text) == (
        "file",
        ALICE,
        "report.pdf",
    )
    assert (caption.kind, caption.text) == ("text", "báo cáo quý")
    assert out.strip() == (
        f"Sent to {ALICE} via zalouser/default: message id {file_record.msg_id}, {caption.msg_id}"
    )
    assert listeners(personal) == 1  # the gateway's listener, not kicked off by a second one
    assert record(running).state is AccountState.RUNNING
    assert record(running).last_outbound_at is not None
    [row] = await control_rows(running)
    assert (row["channel"], row["target"], row["status"]) == ("zalouser", ALICE, "sent")

    assert await cli(*SEND_FILE[:6], "-m", "chào **Alice**", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    [*_, text] = sent_of(personal, "text")
    assert text.text == "chào Alice"
    assert body == {
        "ok": True,
        "channel": "zalouser",
        "accountId": "default",
        "target": ALICE,
        "messageIds": [text.msg_id],
    }


@pytest.mark.timeout(60)
async def test_direct_sends_from_the_cli_process(
    running: Gateway, personal: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(*SEND_FILE, "--direct") == 1
    err = capsys.readouterr().err
    assert "cannot send the file report.pdf" in err
    assert "not running in this process" in err
    assert "zalogate gateway run" in err
    assert sent_of(personal, "file") == []

    assert await cli(*SEND_FILE[:6], "-m", "trực tiếp", "--direct") == 0
    assert "via zalouser/default: message id" in capsys.readouterr().out
    assert [r.text for r in sent_of(personal, "text")] == ["trực tiếp"]
    assert await control_rows(running) == []  # not through the gateway
    assert record(running).last_outbound_at is None


@pytest.mark.timeout(60)
async def test_without_a_gateway_a_file_says_to_start_it(
    personal: FakeZaloPersonal,
    zsetup: tuple[Path, ZalogateConfig],
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, _ = zsetup
    save_session(personal, state)
    write_token_file(state, "left-over-from-a-crashed-gateway")  # and nobody on the port
    assert await cli(*SEND_FILE) == 1
    err = capsys.readouterr().err
    assert "cannot send the file report.pdf" in err
    assert "start the gateway (zalogate gateway run)" in err
    assert "left-over" not in err
    token_path(state).unlink()
    assert await cli(*SEND_FILE[:6], "-m", "không có gateway") == 0  # text works as today
    assert [r.text for r in sent_of(personal, "text")] == ["không có gateway"]


@pytest.mark.timeout(60)
async def test_an_account_the_gateway_cannot_run_is_an_error_not_a_second_session(
    zsetup: tuple[Path, ZalogateConfig],
    personal: FakeZaloPersonal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with gateway_of(zsetup) as gateway:  # no saved session: unauthorized
        await until(lambda: record(gateway).state is AccountState.UNAUTHORIZED)
        capsys.readouterr()  # the gateway's own warnings
        assert await cli(*SEND_FILE[:6], "-m", "x") == 1
        err = capsys.readouterr().err
        assert "zalouser: sending failed: the running gateway cannot send now:" in err
        assert "zalouser/default account is not running (state unauthorized)" in err
        assert "zalogate channels status --channel zalouser" in err
        assert len(err.strip().splitlines()) == 1
        assert await cli(*SEND_FILE[:6], "-m", "x", "--json") == 1
        body = json.loads(capsys.readouterr().out)
        assert body["ok"] is False
        assert "not running (state unauthorized)" in body["error"]
    assert sent_of(personal, "text") == []


@pytest.mark.timeout(60)
async def test_login_keeping_the_session_does_not_restart_the_account(
    running: Gateway, personal: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    before = record(running)
    # No terminal: "Replace this session with a new QR login?" takes its default, no.
    assert await cli("channels", "login", "--channel", "zalouser") == 0
    out = capsys.readouterr().out
    assert "Zalo is already linked (Trợ lý Bot)." in out
    assert "restarted" not in out
    assert "picks the new session up" not in out
    after = record(running)
    assert (after.state, after.last_start_at, after.restarts) == (
        AccountState.RUNNING,
        before.last_start_at,
        before.restarts,
    )
    assert listeners(personal) == 1


# -- zalo (Bot API) -----------------------------------------------------------------------------


@pytest.fixture
async def bot() -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi(name="shop.bot") as server:
        yield server


@pytest.fixture
async def zalo_gateway(
    bot: FakeZaloBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Gateway]:
    state = tmp_path / "state"
    data = {
        "gateway": {"host": "127.0.0.1", "port": free_port()},
        "channels": {"zalo": {"botToken": bot.token, "apiBaseUrl": bot.base_url}},
    }
    config_file = tmp_path / "zalogate.json5"
    config_file.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config_file))
    monkeypatch.delenv("ZALO_BOT_TOKEN", raising=False)
    monkeypatch.delenv("ZALO_API_URL", raising=False)
    gateway = Gateway(
        parse_config(data, env={}),
        state_dir=state,
        channels=[load_plugin("zalo")],
        agent=EchoAgent(),
        backoff=HOUR,
        startup_grace=0.05,
        configure_logs=False,
        shutdown_timeout=3.0,
    )
    async with gateway:
        await until(lambda: record(gateway).state is AccountState.RUNNING)
        yield gateway


@pytest.mark.timeout(30)
async def test_a_bot_api_send_goes_through_the_gateway_unless_direct(
    zalo_gateway: Gateway, bot: FakeZaloBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("message", "send", "-t", "u42", "-m", "xin chào") == 0
    out = capsys.readouterr().out
    [sent] = bot.sent
    assert out.strip() == f"Sent to u42 via zalo/default: message id {sent.message_id}"
    [row] = await control_rows(zalo_gateway)
    assert (row["channel"], row["target"], json.loads(row["message_ids"])) == (
        "zalo",
        "u42",
        [sent.message_id],
    )

    assert await cli("message", "send", "-t", "zl:user:u7", "-m", "hi", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {
        "ok": True,
        "channel": "zalo",
        "accountId": "default",
        "target": "user:u7",
        "messageIds": [bot.sent[-1].message_id],
    }
    assert bot.sent[-1].chat_id == "u7"

    assert await cli("message", "send", "-t", "u1", "-m", "direct", "--direct") == 0
    capsys.readouterr()
    assert bot.sent[-1].text == "direct"
    assert len(await control_rows(zalo_gateway)) == 2  # the direct one is not the gateway's


@pytest.mark.timeout(30)
async def test_the_gateways_refusals_are_the_clis_error_lines(
    zalo_gateway: Gateway, bot: FakeZaloBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.error_next("sendMessage", 400, "Bad request: The chat_id is invalid")
    assert await cli("message", "send", "-t", "u1", "-m", "x") == 1
    err = capsys.readouterr().err
    assert "zalo: sending failed:" in err
    assert "The chat_id is invalid" in err
    assert len(err.strip().splitlines()) == 1
    assert bot.token.split(":")[1] not in err

    bot.error_next("sendMessage", 400, "Bad request: The chat_id is invalid")
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--json") == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False
    assert body["error"].startswith("zalo: sending failed:")
    assert "The chat_id is invalid" in body["error"]

    # bad arguments still fail in the CLI, before anything is asked
    assert await cli("message", "send", "-t", "u1", "--media", "/no/such/file.png") == 1
    assert "--media" in capsys.readouterr().err
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--account", "nope") == 1
    assert "unknown zalo account 'nope' (configured: default)" in capsys.readouterr().err

    write_token_file(zalo_gateway.state_dir, "a-token-of-an-older-gateway")
    assert await cli("message", "send", "-t", "u1", "-m", "x") == 1
    err = capsys.readouterr().err
    assert "refused the control token" in err
    assert "--direct" in err
    assert "a-token-of-an-older-gateway" not in err
    assert bot.sent == []
