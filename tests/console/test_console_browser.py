"""The operator's whole journey in a real browser (Debian's chromium, driven by Playwright)
against the zalouser sandbox: the one-time link, the accounts, a QR login the simulated phone
scans and confirms, a pairing approval the sender hears about, a human takeover with a reply
the user receives, the agent resumed, a dead letter retried.

``ZALOGATE_CONSOLE_SCREENSHOTS=<dir>`` keeps the screenshots (``docs/images`` has them).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.core.journal import Journal
from zalogate.core.model import InboundMessage
from zalogate.sandbox.session import Sandbox
from zalogate.sandbox.zalouser_simulator import ZalouserSimulator

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the Python playwright package is not installed"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
]

WAIT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


class Shots:
    """Screenshots into ``$ZALOGATE_CONSOLE_SCREENSHOTS`` (else the test's tmp dir)."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = Path(os.environ.get("ZALOGATE_CONSOLE_SCREENSHOTS") or tmp_path)
        self.folder.mkdir(parents=True, exist_ok=True)

    async def take(self, page: Any, name: str) -> None:
        await page.screenshot(path=str(self.folder / f"console-{name}.png"), full_page=True)


async def reply_text(sandbox: Sandbox) -> str:
    reply = await sandbox.next_reply(timeout=15)
    assert reply is not None, "the simulated user got no message"
    return reply.text


async def dead_letter(sandbox: Sandbox, sim: ZalouserSimulator, text: str) -> int:
    """A message from the user that failed for good (as a broken agent would leave it)."""
    store = sandbox.gateway.store
    assert store is not None
    message = InboundMessage(
        channel="zalouser",
        account_id="default",
        chat_type="direct",
        chat_id=sim.user_id,
        sender_id=sim.user_id,
        sender_name=sim.user_name,
        message_id=f"dead-{time.time_ns()}",
        timestamp_ms=int(time.time() * 1000),
        text=text,
    )
    journal = Journal(store)
    payload = message.model_dump_json()
    now = int(time.time() * 1000)
    entry_id, _ = await journal.insert(message, f"zalouser:default:{sim.user_id}", payload, now)
    await journal.dead_letter(entry_id, 5, "the agent failed (simulated)", payload, now)
    return entry_id


async def until_running(page: Any, account: str) -> None:
    """Reload the overview until ``account`` shows ``running`` (the startup grace)."""
    badge = page.locator(f'[data-account="{account}"] .badge')
    for _ in range(60):
        if await badge.inner_text() == "running":
            return
        await page.wait_for_timeout(250)
        await page.reload()
    raise AssertionError(f"{account} is {await badge.inner_text()}")


async def press(page: Any, shots: Shots, where: tuple[str, str], item: str, button: str) -> None:
    """Open a page from the menu, wait for ``item``, screenshot, press its ``button`` and wait
    for the answer's flash line."""
    link, shot = where
    await page.get_by_role("link", name=link).click()
    row = page.locator(item)
    await row.wait_for()
    await shots.take(page, shot)
    await row.get_by_role("button", name=button).click()
    await page.locator(".flash").first.wait_for()


async def test_operator_journey_in_chromium(browser: Any, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    async with Sandbox("zalouser", state_dir=tmp_path / "state") as sandbox:
        sim = sandbox.simulator
        assert isinstance(sim, ZalouserSimulator)
        fake = sim.fake
        await sandbox.say("xin chào")
        assert "pairing" in (await reply_text(sandbox)).lower()

        context = await browser.new_context(viewport={"width": 1200, "height": 800}, locale="en")
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)

        # The one-time link opens a session; the overview shows the account.
        await page.goto(sandbox.console_link())
        card = page.locator('[data-account="zalouser/default"]')
        await until_running(page, "zalouser/default")
        await shots.take(page, "overview")

        # QR login: the page follows the simulated phone's scan and confirmation.
        await card.get_by_role("link", name="Log in", exact=True).click()
        await page.get_by_role("button", name="Start the login").click()
        await page.locator("#qr-image:not([hidden])").wait_for()
        await shots.take(page, "qr")
        fake.qr.scan(sim.bot_uid)
        await page.locator('#qr-step[data-step="scanned"]').wait_for()
        fake.qr.confirm()
        await page.locator('#qr-step[data-step="done"]').wait_for()
        await page.goto(sandbox.gateway.url + "/console/")
        await until_running(page, "zalouser/default")

        # Pairing: approve (with notify); the sender hears about it.
        request = f'.pairing-request[data-sender="{sim.user_id}"]'
        await press(page, shots, ("Pairing", "pairing"), request, "Approve")
        assert "approved" in (await reply_text(sandbox)).lower()
        await sandbox.say("hello bot")
        assert await reply_text(sandbox) == "hello bot"

        # Takeover: the agent pauses, the message is recorded, the operator answers.
        await page.get_by_role("link", name="Conversations").click()
        await page.locator(".conversation", has_text=sim.user_name).click()
        await page.get_by_role("button", name="Take over").click()
        await page.get_by_role("button", name="Resume the agent").wait_for()
        await sandbox.say("I need a human")
        # The open page shows the new message by itself (it refreshes its transcript).
        await page.locator(".transcript .bubble.in", has_text="I need a human").wait_for()
        await page.locator("textarea[name=text]").fill("Xin chào, tôi là người thật.")
        await page.get_by_role("button", name="Send").click()
        await page.locator(".bubble.out", has_text="người thật").wait_for()
        # The operator's words are the next thing the user gets: the agent stayed silent.
        assert await reply_text(sandbox) == "Xin chào, tôi là người thật."
        await shots.take(page, "takeover")
        await page.get_by_role("button", name="Resume the agent").click()
        await page.get_by_role("button", name="Take over").wait_for()
        await sandbox.say("back to the bot")
        assert await reply_text(sandbox) == "back to the bot"

        # Inbox: a dead letter is retried and answered.
        entry = await dead_letter(sandbox, sim, "retry me please")
        await press(page, shots, ("Inbox", "inbox"), f'.inbox-entry[data-entry="{entry}"]', "Retry")
        assert await reply_text(sandbox) == "retry me please"

        # Logs: the live tail, then the Vietnamese overview on a phone.
        await page.get_by_role("link", name="Logs").click()
        await page.locator("#log-tail", has_text="console").wait_for()
        await shots.take(page, "logs")
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True
        )
        mobile = await phone.new_page()
        await mobile.goto(sandbox.console_link())
        await mobile.get_by_role("link", name="Tổng quan").wait_for()
        await shots.take(mobile, "phone")
        await phone.close()
        await context.close()


async def test_allowlists_edited_in_chromium(browser: Any, tmp_path: Path) -> None:
    """Reject a pairing request; add the user (picked from the directory) to ``allowFrom`` and
    the group (picked too) to ``groups``: both are answered at once, without a restart; hide
    a config entry; remove the user again: the next DM gets a pairing code."""
    shots = Shots(tmp_path)
    config = {
        "channels": {
            "zalouser": {"allowFrom": [ZalouserSimulator.other_uid], "groupPolicy": "allowlist"}
        }
    }
    async with Sandbox("zalouser", user_config=config, state_dir=tmp_path / "state") as sandbox:
        sim = sandbox.simulator
        assert isinstance(sim, ZalouserSimulator)
        await sandbox.say("xin chào")
        assert "pairing" in (await reply_text(sandbox)).lower()

        context = await browser.new_context(viewport={"width": 1200, "height": 900}, locale="en")
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(sandbox.console_link())
        await until_running(page, "zalouser/default")

        request = f'.pairing-request[data-sender="{sim.user_id}"]'
        await page.get_by_role("link", name="Pairing").click()
        await page.locator(request).get_by_role("button", name="Reject").click()
        await page.locator(".flash", has_text="rejected").wait_for()
        assert await page.locator(request).count() == 0

        card = page.locator('.allowlists[data-account="zalouser/default"]')
        allow_from = card.locator('.access-list[data-list="allowFrom"]')
        await allow_from.locator(
            f'.from-config[data-entry="{ZalouserSimulator.other_uid}"]'
        ).wait_for()
        # The pickers come from the channel's directory: the friend and the group.
        assert await card.locator(f'datalist[id^="peers"] option[value="{sim.user_id}"]').count()
        picked = card.locator('datalist[id^="groups"] option', has_text=sim.group_name)
        group_entry = await picked.get_attribute("value")
        assert group_entry is not None
        assert sim.group_id in group_entry
        await allow_from.locator("input[name=entry][required]").fill(sim.user_id)
        await allow_from.get_by_role("button", name="Add").click()
        await page.locator(".flash", has_text=sim.user_id).wait_for()
        await sandbox.say("hello bot")
        assert await reply_text(sandbox) == "hello bot"

        groups = card.locator('.access-list[data-list="groups"]')
        await groups.locator("input[name=entry][required]").fill(group_entry)
        await groups.get_by_role("button", name="Add").click()
        await groups.locator(f'.added[data-entry="{group_entry}"]').wait_for()
        await sandbox.say_in_group("hi group", mention=True)
        assert "hi group" in await reply_text(sandbox)

        # A config entry is hidden (the file is not touched), and can be restored.
        other = allow_from.locator(f'.from-config[data-entry="{ZalouserSimulator.other_uid}"]')
        await other.get_by_role("button", name="Remove").click()
        await allow_from.locator(f'.removed[data-entry="{ZalouserSimulator.other_uid}"]').wait_for()
        await shots.take(page, "allowlists")

        await (
            allow_from.locator(f'.added[data-entry="{sim.user_id}"]')
            .get_by_role("button", name="Remove")
            .click()
        )
        await page.locator(".flash").first.wait_for()
        await sandbox.say("still there?")
        assert "pairing" in (await reply_text(sandbox)).lower()
        await context.close()
