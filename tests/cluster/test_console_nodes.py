"""The console of a cluster seen through real gateway nodes (child processes on a 3-server
NATS cluster): every node's console lists the conversations every node handled, and a login
link works once on whichever node gets it first.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, bot_cluster, run_cli, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "operator-pw-for-tests"
CHROMIUM = Path("/usr/bin/chromium")
BUBBLE = r'<li class="bubble (in|out)">.*?class="text">(.*?)</div>'

Setup = tuple[FakeZaloBotApi, list[GatewayNode], Path]


@pytest.fixture
async def setup(cluster_section: dict[str, Any], tmp_path: Path) -> AsyncIterator[Setup]:
    cluster = {**cluster_section, "prefix": f"cn{os.getpid()}{cluster_section['prefix']}"}
    console = {"console": {"password": PASSWORD}}
    async with bot_cluster(cluster, tmp_path, gateway=console) as (fake, nodes, config_file):
        yield fake, nodes, config_file


async def log_in(browser: httpx2.AsyncClient, node: GatewayNode) -> dict[str, str]:
    """A console session (opened on ``node``) as the header a load balancer passes on."""
    login = await browser.post(f"{node.url}/console/login", data={"password": PASSWORD})
    assert login.status_code == 303, login.text
    browser.cookies.clear()  # sent by hand: the same header to either node
    return {"Cookie": f"zalogate_console={login.cookies['zalogate_console']}"}


def handled_by(nodes: list[GatewayNode], count: int) -> str | None:
    """The node that finished ``count`` inbox messages (from its heartbeat's metrics)."""
    for node in nodes:
        with httpx2.Client(timeout=10) as http:
            body = http.get(f"{node.url}/metrics").text
        found = re.search(rf'zalogate_cluster_processed_total{{node="{node.name}"}} (\d+)', body)
        if found is not None and int(float(found[1])) >= count:
            return node.name
    return None


async def handled_elsewhere(setup: Setup, text: str) -> tuple[Any, GatewayNode, GatewayNode]:
    """A user's message answered by the agent; (the user, the node that handled it, the
    other node)."""
    fake, nodes, _ = setup
    user = fake.user("7100000000000000031", "Lan")
    user.says(text)
    await wait_for("the agent's answer", lambda: any(text in str(r.text) for r in fake.sent), nodes)
    await wait_for("the handling node", lambda: handled_by(nodes, 1) is not None, nodes)
    name = handled_by(nodes, 1)
    handler = next(n for n in nodes if n.name == name)
    return user, handler, next(n for n in nodes if n is not handler)


async def test_every_console_lists_a_conversation_another_node_handled(setup: Setup) -> None:
    user, handler, other = await handled_elsewhere(setup, "hello from the far node")
    chat = f"/console/conversations/zalo/default/{user.chat_id}"
    async with httpx2.AsyncClient(timeout=30) as browser:
        cookie = await log_in(browser, other)
        for _ in range(300):  # the handling node writes its lines once a second
            listed = await browser.get(f"{other.url}/console/conversations", headers=cookie)
            if chat in listed.text:
                break
            await asyncio.sleep(0.1)
        assert listed.status_code == 200
        assert chat in listed.text, f"{other.name} does not list {handler.name}'s conversation"
        assert "Lan" in listed.text  # the title the handling node saw

        for _ in range(300):
            page = await browser.get(f"{other.url}{chat}", headers=cookie)
            texts = re.findall(
                r'<li class="bubble (in|out)">.*?class="text">(.*?)</div>', page.text
            )
            if len(texts) == 2:
                break
            await asyncio.sleep(0.1)
        assert texts[0] == ("in", "hello from the far node")
        assert texts[1][0] == "out"
        assert "hello from the far node" in texts[1][1]  # the agent's answer, after it

        # A notice after an action follows the session to the node serving the next page.
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"csrf": csrf[1], "channel": "zalo", "account": "default", "sender": "7100099"}
        url = f"{handler.url}/console/pairing/allow"
        answer = await browser.post(url, data=form, headers=cookie)
        assert answer.status_code == 303
        shown = await browser.get(f"{other.url}/console/pairing", headers=cookie)
        assert '<p class="flash" role="status">7100099: allowed ✓</p>' in shown.text
        again = await browser.get(f"{handler.url}/console/pairing", headers=cookie)
        assert "allowed ✓</p>" not in again.text  # shown once


def console_link(config_file: Path, root: Path, node: GatewayNode) -> str:
    """``zalogate console`` run with the cluster's config (no node's state dir)."""
    done = run_cli(config_file, root, "console", "--port", str(node.port))
    assert done.returncode == 0, done.stderr
    assert "on any node of the cluster" in done.stderr
    return done.stdout.strip()


async def test_a_login_link_works_once_on_whichever_node_gets_it(
    setup: Setup, tmp_path: Path
) -> None:
    _, (a, b), config_file = setup
    link = await asyncio.to_thread(console_link, config_file, tmp_path / "cli", a)
    query = link.split("?", 1)[1]
    async with httpx2.AsyncClient(timeout=30) as browser:
        first = await browser.get(f"{a.url}/console/login?{query}")
        assert first.status_code == 303, first.text
        assert "zalogate_console" in first.cookies
        browser.cookies.clear()
        again = await browser.get(f"{b.url}/console/login?{query}")
        assert again.status_code == 403
        assert "set-cookie" not in again.headers
        assert "zalogate console" in again.text
        assert "đã được dùng" in again.text  # "already used" (the default language)
        # A link is signed with the cluster's key: another one works on node B as well.
        other = await asyncio.to_thread(console_link, config_file, tmp_path / "cli", a)
        opened = await browser.get(f"{b.url}/console/login?{other.split('?', 1)[1]}")
        assert opened.status_code == 303, opened.text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
async def test_a_browser_on_one_node_sees_the_other_node_s_conversation(setup: Setup) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    user, handler, other = await handled_elsewhere(setup, "seen through chromium")
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{other.url}/console/login")
            await page.fill('input[name="password"]', PASSWORD)
            await page.click("form button.primary")
            await page.wait_for_url(f"{other.url}/console/")
            chat = f'a.conversation[href="/console/conversations/zalo/default/{user.chat_id}"]'
            for _ in range(100):  # the handling node writes its lines once a second
                await page.goto(f"{other.url}/console/conversations")
                if await page.locator(chat).count():
                    break
                await asyncio.sleep(0.2)
            card = page.locator(chat)
            assert await card.count() == 1, f"{other.name} never listed {handler.name}'s chat"
            await card.click()
            bubbles = page.locator("ol.transcript li.bubble")
            await bubbles.nth(1).wait_for(timeout=20_000)
            assert await bubbles.nth(0).locator(".text").inner_text() == "seen through chromium"
            assert "out" in (await bubbles.nth(1).get_attribute("class") or "")
        finally:
            await browser.close()
