"""``zalogate mcp`` for real: a subprocess on stdio, driven by the MCP SDK's own client, sending
through the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from zalogate.testing.fake_botapi import FakeZaloBotApi

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

# A server process whose only channel is a minimal Bot API channel written here, so that the
# MCP plumbing is tested whatever state the real `zalo` channel is in.
SCRIPT = """
import asyncio, sys
from pathlib import Path
from types import SimpleNamespace

from zalogate.botapi import ZaloBot
from zalogate.channels.zalo.tools import zalo_tools
from zalogate.core.channel import Channel as BaseChannel
from zalogate.core.channel import ChannelAccount, ChannelPlugin, ProbeResult
from zalogate.core.model import DeliveryReceipt
from zalogate.mcp.server import run_stdio_server
from zalogate.runtime.logging import configure_logging

token, base_url, state_dir = sys.argv[1:4]

class Channel(BaseChannel):
    id = "zalo"
    text_limit = 2000

    def __init__(self, context):
        self.bot = ZaloBot(token, base_url=base_url)

    def accounts(self):
        return [ChannelAccount("zalo", "default", True, {}),
                ChannelAccount("zalo", "work", True, {})]

    async def run(self, account, stop):
        await stop.wait()

    async def send(self, account, target, reply):
        if reply.text == "leak":
            return DeliveryReceipt(error=f"refused with token {token}")
        sent = await self.bot.send_message(target, f"{account.account_id}: {reply.text}")
        return DeliveryReceipt(message_ids=(sent.message_id,))

    async def probe(self, account):
        return ProbeResult(ok=True)

    def agent_tools(self, account, context):
        return zalo_tools(self, account, context)

    async def aclose(self):
        await self.bot.aclose()

config = SimpleNamespace(channels=SimpleNamespace(zalo=SimpleNamespace(botToken=token)))
configure_logging("info", console=True)
plugin = ChannelPlugin(id="zalo", label="Zalo", create=Channel)
asyncio.run(run_stdio_server(config, Path(state_dir), plugins=[plugin]))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    env.update(HOME=str(tmp_path / "home"), ZALOGATE_STATE_DIR=str(tmp_path / "state"))
    env.pop("ZALO_API_URL", None)
    env.update(extra)
    return env


@asynccontextmanager
async def connect(params: StdioServerParameters, errlog: Path) -> AsyncIterator[ClientSession]:
    with errlog.open("w", encoding="utf-8") as stderr:
        async with (
            stdio_client(params, errlog=stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def structured(result: Any) -> dict[str, Any]:
    [content] = result.content
    data: dict[str, Any] = json.loads(content.text)
    return data


async def test_mcp_server_lists_zalo_send_and_sends_through_the_bot_api(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SCRIPT, encoding="utf-8")
    async with FakeZaloBotApi() as fake:
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(script), fake.token, fake.base_url, str(tmp_path / "state")],
            env=_env(tmp_path),
        )
        async with connect(params, tmp_path / "stderr.log") as session:
            listing = await session.list_tools()
            [tool] = listing.tools
            assert tool.name == "zalo_send"
            schema = tool.model_dump(by_alias=True)["inputSchema"]
            assert set(schema["properties"]) == {"target", "message", "mediaUrl", "accountId"}
            assert schema["additionalProperties"] is False

            result = await session.call_tool(
                "zalo_send", {"target": "zalo:u42", "message": "xin chào", "accountId": "work"}
            )
            assert not result.model_dump(by_alias=True)["isError"]
            answer = structured(result)
            [sent] = await fake.wait_for_sent(count=1, chat_id="u42")
            assert sent.text == "work: xin chào"
            assert answer == {
                "ok": True,
                "to": "u42",
                "messageId": sent.message_id,
                "messageIds": [sent.message_id],
            }
            assert result.model_dump(by_alias=True)["structuredContent"] == answer

            missing = await session.call_tool("zalo_send", {"message": "no target"})
            assert missing.model_dump(by_alias=True)["isError"] is True
            assert structured(missing)["error"].startswith("No chat_id provided")

            leak = await session.call_tool("zalo_send", {"target": "u1", "message": "leak"})
            assert leak.model_dump(by_alias=True)["isError"] is True
            assert fake.token not in leak.content[0].text
            assert structured(leak)["error"].startswith("refused with token ")
    assert len(fake.sent) == 1
    assert fake.token not in (tmp_path / "stderr.log").read_text(encoding="utf-8")


async def test_zalogate_mcp_command_serves_the_configured_zalo_accounts(tmp_path: Path) -> None:
    async with FakeZaloBotApi() as fake:
        work = fake.add_bot(name="work bot")
        config = tmp_path / "zalogate.json5"
        config.write_text(
            json.dumps(
                {
                    "channels": {
                        "zalo": {
                            "apiBaseUrl": fake.base_url,
                            "accounts": {
                                "default": {"botToken": "${TEST_ZALO_TOKEN}"},
                                "work": {"botToken": "${TEST_WORK_TOKEN}"},
                            },
                        }
                    }
                }
            ),
            encoding="utf-8",
        )
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "zalogate", "--config", str(config), "mcp"],
            env=_env(tmp_path, TEST_ZALO_TOKEN=fake.token, TEST_WORK_TOKEN=work.token),
        )
        async with connect(params, tmp_path / "stderr.log") as session:
            names = [t.name for t in (await session.list_tools()).tools]
            assert names == ["zalo_send"]
            result = await session.call_tool("zalo_send", {"target": "u7", "message": "chào"})
            answer = structured(result)
            assert answer["ok"] is True, answer
            [sent] = await fake.wait_for_sent(count=1, chat_id="u7", bot=fake.bots[0])
            assert sent.text == "chào"
            assert answer["messageIds"] == [sent.message_id]

            result = await session.call_tool(
                "zalo_send", {"target": "group:g9", "message": "hi", "accountId": "Work"}
            )
            assert structured(result)["ok"] is True
            [sent] = await fake.wait_for_sent(count=1, chat_id="g9", bot=work)
            assert sent.text == "hi"
    stderr = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert fake.token not in stderr
    assert work.token not in stderr


def test_without_the_sdk_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    # A package named `mcp` that cannot be imported stands in for a missing SDK.
    shadow = tmp_path / "shadow" / "mcp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no mcp here')\n", encoding="utf-8")
    config = tmp_path / "zalogate.json5"
    config.write_text("{}", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "zalogate", "--config", str(config), "mcp"],
        env=_env(tmp_path, PYTHONPATH=str(shadow.parent)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: the MCP server needs the mcp package: pip install 'zalogate[mcp]'"]
