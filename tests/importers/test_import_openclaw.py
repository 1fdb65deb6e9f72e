"""``zalogate import openclaw`` on a state dir the real OpenClaw wrote (tests/fixtures/openclaw).

The fixture was made by ``make_fixture.sh`` with OpenClaw 2026.9.6's own CLI and pairing store:
two zalo bots (default: pairing, support: allowlist), two zalouser accounts with saved sessions
in OpenClaw's SQLite plugin state, one approved sender per channel and one pending request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import json5
import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.channels.zalo.channel import ZaloChannelOptions, plugin_with_options
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.cli.app import main
from zalogate.config import load_config, state_dir
from zalogate.core.pairing import SqlitePairingStore
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.store import Store
from zalogate.testing.fake_botapi import FakeZaloBotApi

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw" / "state"


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("ZALOGATE_CONFIG", "ZALOGATE_STATE_DIR", "OPENCLAW_STATE_DIR", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield
    reset_logging()
    clear_registered_secrets()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "zg" / "zalogate.json5"


def imported(target: Path, *extra: str) -> int:
    return run_cli(["import", "openclaw", "--from", str(FIXTURE), "--config", str(target), *extra])


def test_import_takes_the_channels_the_approved_senders_and_the_sessions(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(FIXTURE)
    assert imported(target, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    took = {(item["kind"], item["what"]) for item in report["took"]}
    assert ("config", "channels.zalo (accounts: default, support)") in took
    assert ("config", "channels.zalouser (accounts: default, shop)") in took
    assert ("allow", "zalo/default: 1 approved sender(s)") in took
    assert ("session", "zalouser profile shop") in took
    left = {item["what"]: item["reason"] for item in report["left"]}
    assert "no zalogate counterpart" in left["agents, commands, meta, plugins, skills, wizard"]
    assert "zalo/default sender 8000000000000003" in left  # pending: with its reason
    assert report["openclawVersion"] == "2026.9.6"

    assert digest(FIXTURE) == before  # OpenClaw's files are only read
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    config = json5.loads(target.read_text())
    assert config["channels"]["zalo"]["accounts"]["support"]["dmPolicy"] == "allowlist"
    state = Path(report["stateDir"])
    session = CredentialStore(state).load("shop")
    assert session is not None
    assert session.credentials.imei == "fake-imei-shop-0002"
    assert session.created_at == "2026-12-02T08:00:00.000Z"
    assert stat.S_IMODE(CredentialStore(state).path("shop").stat().st_mode) == 0o600


async def test_the_imported_gateway_answers_the_same_people(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Approved (pairing store) and allowFrom senders get answers; a stranger gets a code."""
    assert await asyncio.to_thread(imported, target) == 0  # the CLI runs its own loop
    capsys.readouterr()
    state = state_dir(load_config(target, env=os.environ), os.environ)  # ~/.zalogate here
    async with await Store.open(state) as store:
        allowed = await SqlitePairingStore(store).allowed_senders("zalouser", "default")
    assert allowed == frozenset({"9000000000000002"})

    async with FakeZaloBotApi("1234567890:fake-default-token") as fake:
        support = fake.add_bot("2233445566:fake-support-token")
        options = ZaloChannelOptions(env={"ZALO_API_URL": fake.base_url}, poll_timeout=5)
        config = load_config(target, env=os.environ)
        gateway = Gateway(
            config,
            state_dir=state,
            agent=EchoAgent(),
            channels=[plugin_with_options(options)],
            http_port=0,
            console_log=False,
            startup_grace=0.05,
            shutdown_timeout=3.0,
        )
        async with gateway:
            fake.user("8000000000000001").says("approved in OpenClaw")
            fake.user("6011223344556677").says("in allowFrom")
            fake.user("8000000000000099").says("a stranger")
            support.user("7000000000000001").says("support allowlist")
            [approved] = await fake.wait_for_sent(1, chat_id="8000000000000001")
            [listed] = await fake.wait_for_sent(1, chat_id="6011223344556677")
            [stranger] = await fake.wait_for_sent(1, chat_id="8000000000000099")
            [helped] = await fake.wait_for_sent(1, chat_id="7000000000000001")
    assert approved.text == "approved in OpenClaw"
    assert listed.text == "in allowFrom"
    assert "Pairing code: " in stranger.text
    assert helped.text == "support allowlist"


def test_a_dry_run_writes_nothing(target: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert imported(target, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "took:" in out
    assert "dry run: nothing written" in out
    assert not target.parent.exists()


def test_nothing_is_overwritten_without_force(
    target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target.parent.mkdir(parents=True)
    target.write_text("{}\n")
    assert imported(target) == 1
    assert "not overwriting" in capsys.readouterr().err
    assert target.read_text() == "{}\n"
    assert imported(target, "--force") == 0
    assert target.with_name("zalogate.json5.bak").read_text() == "{}\n"
    assert "channels" in json5.loads(target.read_text())


def test_the_json_era_stores_and_unknown_keys(
    tmp_path: Path, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before SQLite, OpenClaw kept pairing and sessions in JSON files under credentials/."""
    old = tmp_path / "old-openclaw"
    creds = old / "credentials"
    (creds / "zalouser").mkdir(parents=True)
    (old / "openclaw.json").write_text(
        "{ channels: { zalouser: { dmPolicy: 'pairing', futureKey: 1 },"
        " telegram: { botToken: 'x' } } }"
    )
    (creds / "zalouser-default-allowFrom.json").write_text(
        json.dumps({"version": 1, "allowFrom": ["111", "*"]})
    )
    (creds / "zalouser-allowFrom.json").write_text(json.dumps({"version": 1, "allowFrom": ["222"]}))
    (creds / "zalouser" / "credentials.json").write_text(
        json.dumps({"imei": "i", "cookie": [], "userAgent": "ua", "createdAt": "2026-01-01"})
    )
    (creds / "zalouser" / "credentials-work.json").write_text(
        json.dumps({"kind": "revoked", "profile": "work", "revokedAt": "2026-01-02"})
    )
    args = ["import", "openclaw", "--from", str(old), "--config", str(target), "--json"]
    assert run_cli(args) == 0
    report = json.loads(capsys.readouterr().out)
    left = {item["what"]: item["reason"] for item in report["left"]}
    assert left["channels.telegram"] == "not a channel zalogate runs"
    assert left["channels.zalouser.futureKey"].startswith("zalogate: unknown key")
    took = [item["what"] for item in report["took"]]
    assert "zalouser/default: 2 approved sender(s)" in took
    assert "zalouser profile default" in took
    assert "futureKey" not in target.read_text()


def test_a_missing_openclaw_dir_is_one_line(
    tmp_path: Path, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["import", "openclaw", "--from", str(tmp_path / "nope"), "--config", str(target)]
    assert run_cli(args) == 1
    err = capsys.readouterr().err
    assert "no OpenClaw state dir at" in err
    assert "--from DIR" in err
