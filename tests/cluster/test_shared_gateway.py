"""Shared state seen by real gateway nodes (child processes) under ``dmPolicy: pairing``.

The pairing code is approved by ``zalogate pairing approve`` run as its own process (no state
dir of any node), and a conversation is paused through the KV bucket from outside: whichever
node processes the sender's next message must see both.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig
from zalogate.core.takeover import ConversationKey
from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, bot_cluster, run_cli, wait_for
from zalogate.testing.nats_servers import NatsCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

_prefixes = itertools.count(1)

KNOWN_USER = "7100000000000000009"
CONSOLE_PASSWORD = "operator-pw-for-tests"


def cli(config_file: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(config_file, root, *args)


@pytest.fixture
async def setup(
    nats_cluster: NatsCluster, tmp_path: Path
) -> AsyncIterator[tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig]]:
    cluster = {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"s{os.getpid()}x{next(_prefixes)}",
        "leaseTtlSeconds": 3,
        "partitions": 4,
    }
    pairing = {"dmPolicy": "pairing", "allowFrom": [KNOWN_USER]}  # KNOWN_USER: blocked later
    console = {"console": {"password": CONSOLE_PASSWORD}}
    async with bot_cluster(cluster, tmp_path, zalo=pairing, gateway=console) as (
        fake,
        nodes,
        config_file,
    ):
        yield fake, nodes, config_file, ClusterConfig.model_validate(cluster)


async def test_an_approval_and_a_pause_hold_on_every_node(
    setup: tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig], tmp_path: Path
) -> None:
    fake, nodes, config_file, settings = setup
    user = fake.user("7100000000000000001", "Lan")

    def texts() -> list[str]:
        return [str(r.text) for r in fake.sent if str(r.chat_id) == user.chat_id]

    user.says("hello?")
    await wait_for("the pairing code", lambda: len(texts()) == 1, nodes)
    assert "Pairing code:" in texts()[0]

    root = tmp_path / "cli"
    listed = await asyncio.to_thread(cli, config_file, root, "pairing", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [request] = json.loads(listed.stdout)["requests"]
    approved = await asyncio.to_thread(
        cli, config_file, root, "pairing", "approve", "zalo", request["code"]
    )
    assert approved.returncode == 0, approved.stderr

    user.says("may I come in now")
    await wait_for("the agent's answer", lambda: "may I come in now" in texts(), nodes)

    async with ClusterNode(settings, node_id="console") as console:
        key = ConversationKey("zalo", "default", user.chat_id)
        await console.shared.takeover.pause(key, int(time.time() * 1000))
        user.says("is a human there")
        deadline = time.monotonic() + 60
        while not await console.shared.takeover.recorded(key, 10):
            assert time.monotonic() < deadline, "the paused message was not recorded"
            await asyncio.sleep(0.1)
        [line] = await console.shared.takeover.recorded(key, 10)
        assert (line.direction, line.text) == ("in", "is a human there")
        await asyncio.sleep(1.0)  # an answer would show by now
        assert "is a human there" not in texts()
        await console.shared.takeover.resume(key)
    user.says("back to the bot")
    await wait_for("the agent again", lambda: "back to the bot" in texts(), nodes)
    assert len(texts()) == 3  # code, two answers: nothing for the paused message


async def test_a_console_login_and_allowlist_edit_hold_on_every_node(
    setup: tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig],
) -> None:
    fake, nodes, _, _ = setup
    newcomer, known = fake.user("7100000000000000002", "Mai"), fake.user(KNOWN_USER, "Hoa")

    def texts(user: object) -> list[str]:
        chat = getattr(user, "chat_id", "")
        return [str(r.text) for r in fake.sent if str(r.chat_id) == chat]

    # Both nodes build (and cache) the account's policy before the edits.
    newcomer.says("hello?")
    known.says("hi there")
    await wait_for("the pairing code", lambda: len(texts(newcomer)) == 1, nodes)
    await wait_for("the answer", lambda: "hi there" in str(texts(known)), nodes)
    assert "Pairing code:" in texts(newcomer)[0]

    async with httpx2.AsyncClient(timeout=30) as browser:
        # Log in on node 0, use the session on node 1 (a load balancer's choice).
        login = await browser.post(
            f"{nodes[0].url}/console/login", data={"password": CONSOLE_PASSWORD}
        )
        assert login.status_code == 303, login.text
        cookie = {"Cookie": f"zalogate_console={login.cookies['zalogate_console']}"}
        browser.cookies.clear()  # sent by hand: the same header to either node
        page = await browser.get(f"{nodes[1].url}/console/pairing", headers=cookie)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None

        async def edit(node: GatewayNode, action: str, entry: str) -> None:
            form = {"csrf": csrf[1], "channel": "zalo", "account": "default"}
            form |= {"list": "allowFrom", "entry": entry}
            url = f"{node.url}/console/pairing/{action}"
            answer = await browser.post(url, data=form, headers=cookie)
            assert answer.status_code == 303, answer.text

        async def shown_everywhere(marker: str) -> None:
            """Every node's console (its in-memory overlay) shows the edit: it was announced
            and reloaded (milliseconds; asynchronous, so a message may race it)."""
            for node in nodes:
                for _ in range(600):
                    page = await browser.get(f"{node.url}/console/pairing", headers=cookie)
                    if marker in page.text:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{node.name} never showed {marker}")

        await edit(nodes[1], "access-add", newcomer.id)
        await shown_everywhere(f'class="added" data-entry="{newcomer.id}"')
        newcomer.says("may I come in now")
        await wait_for("the newcomer's answer", lambda: len(texts(newcomer)) == 2, nodes)
        assert "may I come in now" in texts(newcomer)[1]

        await edit(nodes[0], "access-block", known.id)
        await shown_everywhere(f'removed" data-entry="{known.id}"')
        known.says("still there?")
        await wait_for("the reply", lambda: len(texts(known)) == 2, nodes)
        assert "Pairing code:" in texts(known)[1]  # blocked: not let in by the config any more

        # Logged out on node 1: node 0 refuses the cookie too.
        out = await browser.post(
            f"{nodes[1].url}/console/logout", data={"csrf": csrf[1]}, headers=cookie
        )
        assert out.status_code == 303
        browser.cookies.clear()
        again = await browser.get(f"{nodes[0].url}/console/pairing", headers=cookie)
        assert again.status_code == 401
