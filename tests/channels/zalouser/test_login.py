"""``channels login`` / ``logout`` for zalouser, with the simulator playing the phone: the QR
shown in the terminal and saved 0600, scan and confirm, decline, expiry, and the question
before an existing session is replaced."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from zalogate.channels.zalouser.login import LOGIN_DECLINED, LOGIN_EXPIRED, LoginFailedError
from zalogate.cli.login_ui import ConsoleLoginUI
from zalogate.core.model import ReplyPayload
from zalogate.testing.fake_personal import QrSession

from .conftest import World

Phone = Callable[[QrSession], None]


class PhoneUI:
    """A LoginUI whose "user" scans with a simulated phone; PNG saving is the CLI's own."""

    def __init__(self, world: World, phone: Phone, *, replace: bool = False) -> None:
        self.console = ConsoleLoginUI(world.state_dir, "zalouser", "default")
        self.world = world
        self.phone = phone
        self.replace = replace
        self.lines: list[str] = []
        self.questions: list[str] = []
        self.paths: list[Path] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        self.questions.append(question)
        return self.replace

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        path = await self.console.show_qr(png, payload=payload)
        self.paths.append(path)
        self.phone(self.world.fake.qr.sessions[-1])
        return path


def scan_and_confirm(world: World, uid: str) -> Phone:
    def act(session: QrSession) -> None:
        world.fake.qr.scan(uid)
        world.fake.qr.confirm()

    return act


async def test_qr_login_saves_a_private_session_that_works(world: World) -> None:
    ui = PhoneUI(world, scan_and_confirm(world, world.BOT))
    async with world.channel(world.config()) as channel:
        account = channel.accounts()[0]
        line = await channel.login_interactive(account, ui)
        assert line.startswith("Login successful. Logged in as Bot (1001)")
        stored = channel.credentials.load("default")
        assert stored is not None
        assert (stored.uid, stored.display_name) == (world.BOT, "Bot")
        path = channel.credentials.path("default")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # The terminal drawing (half blocks) and the PNG for SSH sessions.
        assert any("▀" in line or "█" in line for line in ui.lines)
        (png,) = ui.paths
        assert png.read_bytes().startswith(b"\x89PNG")
        assert stat.S_IMODE(png.stat().st_mode) == 0o600
        assert ui.questions == []
        receipt = await channel.send(account, world.ALICE, ReplyPayload(text="logged in"))
    assert receipt.message_ids
    assert world.records("text")[0].sender == world.BOT


@pytest.mark.parametrize("replace", [False, True])
async def test_existing_session_is_kept_unless_the_user_agrees(world: World, replace: bool) -> None:
    before = json.loads(world.save_session().read_text())
    ui = PhoneUI(world, scan_and_confirm(world, world.BOT), replace=replace)
    async with world.channel(world.config()) as channel:
        line = await channel.login_interactive(channel.accounts()[0], ui)
        after = json.loads(channel.credentials.path("default").read_text())
    assert ui.questions == [
        "Zalo is already linked (Bot). Replace this session with a new QR login?"
    ]
    if replace:
        assert line.startswith("Login successful.")
        assert after["imei"] != before["imei"]
        assert len(world.fake.qr.sessions) == 1
    else:
        assert line == "Zalo is already linked (Bot)."
        assert after == before
        assert world.fake.qr.sessions == []


async def test_declined_login_fails_clearly_and_saves_nothing(world: World) -> None:
    def decline(session: QrSession) -> None:
        world.fake.qr.scan(world.BOT)
        world.fake.qr.decline()

    async with world.channel(world.config()) as channel:
        with pytest.raises(LoginFailedError) as excinfo:
            await channel.login_interactive(channel.accounts()[0], PhoneUI(world, decline))
        assert str(excinfo.value) == LOGIN_DECLINED
        assert channel.credentials.load("default") is None


async def test_expired_codes_are_renewed_then_the_login_gives_up(world: World) -> None:
    ui = PhoneUI(world, lambda session: world.fake.qr.expire())
    async with world.channel(world.config()) as channel:
        with pytest.raises(LoginFailedError) as excinfo:
            await channel.login_interactive(channel.accounts()[0], ui)
        assert channel.credentials.load("default") is None
    assert str(excinfo.value) == LOGIN_EXPIRED
    assert len(ui.paths) == 3  # the first code and two renewals...
    assert len(set(ui.paths)) == 1  # ...each overwriting the same private PNG
    assert sum("expired; here is a new one" in line for line in ui.lines) == 2


async def test_login_wait_is_bounded(world: World) -> None:
    ui = PhoneUI(world, lambda session: None)  # nobody scans
    opts = world.options(login_wait=0.5)
    async with world.channel(world.config(), opts) as channel:
        with pytest.raises(LoginFailedError, match="expired"):
            await channel.login_interactive(channel.accounts()[0], ui)


async def test_logout_clears_the_saved_session(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        account = channel.accounts()[0]
        assert channel.has_session(account)
        assert await channel.logout(account) is True
        assert not channel.has_session(account)
        assert await channel.logout(account) is False
