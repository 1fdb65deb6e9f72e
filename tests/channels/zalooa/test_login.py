"""``channels login --channel zalooa``: the consent link, then the gateway's callback or a paste."""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest

from zalogate.channels.zalooa.channel import ZalooaChannel
from zalogate.core.channel import LoginUI
from zalogate.oa import TokenFile
from zalogate.testing import FakeZaloOA

from ...cli.conftest import cli
from .world import Agent, sends_again, started, world


class UI(LoginUI):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        return default

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        raise AssertionError("no QR for an OA")


def _not_logged(_secret: str) -> None:
    """No log redaction outside a gateway."""


def cli_channel(fake: FakeZaloOA, state_dir: Path, redirect: str) -> ZalooaChannel:
    section: dict[str, Any] = {
        "appId": fake.app_id,
        "secretKey": fake.secret_key,
        "apiUrl": fake.base_url,
        "oauthUrl": fake.base_url,
        "redirectUri": redirect,
    }
    config = SimpleNamespace(channels=SimpleNamespace(plugin_section=lambda c: section))
    return ZalooaChannel(
        SimpleNamespace(
            config=config,
            state_dir=state_dir,
            extras={},
            register_secret=_not_logged,
            token_stores=None,
            shared=None,
        )
    )  # type: ignore[arg-type]


async def consent_link(ui: UI) -> str:
    async with asyncio.timeout(5):
        while not any(line.startswith("http") for line in ui.lines):
            await asyncio.sleep(0.01)
    return next(line for line in ui.lines if line.startswith("http"))


async def admin_allows(link: str) -> str:
    async with httpx2.AsyncClient(trust_env=False) as browser:
        answer = await browser.get(link)
    assert answer.status_code == 302
    return answer.headers["location"]


@pytest.mark.timeout(30)
async def test_a_login_started_in_the_cli_completes_on_the_gateways_callback(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    gateway = world(fake, tmp_path, Agent())
    store = TokenFile(tmp_path / "state" / "zalooa" / "default", "grant")
    store.mark_reauth("refresh refused: error -14014")
    async with gateway:
        await started(gateway, fake)
        fake.redirect_uri = f"{gateway.url}/zalooa/default/oauth"
        cli = cli_channel(fake, tmp_path / "state", fake.redirect_uri)
        [account] = cli.accounts()
        login = cli.login
        assert login is not None
        ui = UI()
        task = asyncio.create_task(login.login_interactive(account, ui))
        callback = await admin_allows(await consent_link(ui))
        async with httpx2.AsyncClient(trust_env=False) as browser:
            landed = await browser.get(callback)
        assert landed.status_code == 200, landed.text
        line = await task
        assert fake.oa_id in line
        assert store.reauth_reason() is None
        # The gateway's own keeper picks the new grant up: sends work again.
        await sends_again(gateway, fake)
        await cli.aclose()
    assert not (tmp_path / "state" / "zalooa" / "default" / "consent.json").exists()


@pytest.mark.timeout(30)
async def test_a_pasted_redirect_url_is_exchanged_by_the_cli(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    fake.redirect_uri = "https://gw.example.com/zalooa/default/oauth"
    pasted: queue.Queue[str] = queue.Queue()
    cli = cli_channel(fake, tmp_path, fake.redirect_uri)
    [account] = cli.accounts()
    from zalogate.channels.zalooa.login import OALogin

    login = OALogin(cli.live, paste=pasted.get)
    ui = UI()
    task = asyncio.create_task(login.login_interactive(account, ui))
    callback = await admin_allows(await consent_link(ui))
    pasted.put("not a url\n")
    pasted.put(callback + "\n")
    await task
    saved = TokenFile(tmp_path / "zalooa" / "default", "grant").load()
    assert saved is not None
    assert saved.access_token in fake.grant.access
    assert (tmp_path / "zalooa" / "default" / "oa_id").read_text() == fake.oa_id
    assert await login.logout(account)
    assert TokenFile(tmp_path / "zalooa" / "default", "grant").load() is None
    await cli.aclose()


@pytest.mark.timeout(60)
async def test_the_login_command_prints_the_link_and_ends_on_the_callback(
    fake: FakeZaloOA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gateway = world(fake, tmp_path, Agent())
    async with gateway:
        await started(gateway, fake)
        fake.redirect_uri = f"{gateway.url}/zalooa/default/oauth"
        config = tmp_path / "zalogate.json"
        section = {
            "appId": fake.app_id,
            "secretKey": fake.secret_key,
            "apiUrl": fake.base_url,
            "oauthUrl": fake.base_url,
            "redirectUri": fake.redirect_uri,
        }
        config.write_text(json.dumps({"channels": {"zalooa": section}}), encoding="utf-8")
        config.chmod(0o600)
        monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
        command = asyncio.create_task(cli("channels", "login", "--channel", "zalooa"))
        consent = tmp_path / "state" / "zalooa" / "default" / "consent.json"
        async with asyncio.timeout(20):
            while not consent.exists():
                await asyncio.sleep(0.02)
        link = json.loads(await asyncio.to_thread(consent.read_text))["url"]
        async with httpx2.AsyncClient(trust_env=False) as browser:
            landed = await browser.get(await admin_allows(link))
        assert landed.status_code == 200
        assert await command == 0
    out = capsys.readouterr().out
    assert link in out
    assert "authorised; tokens saved" in out
