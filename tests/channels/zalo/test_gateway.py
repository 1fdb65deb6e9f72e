"""The ``zalo`` channel inside the real gateway (``runtime.gateway.Gateway``): polling and
webhook round trips, status, replay after a crash, and no token in any log."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.channels.zalo import channel as zalo_channel
from zalogate.channels.zalo import plugin
from zalogate.channels.zalo.channel import plugin_with_options
from zalogate.config import parse_config
from zalogate.core.ingress import Inbox
from zalogate.core.pairing import SqlitePairingStore
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.wiring import channel_configured as _channel_configured
from zalogate.runtime.wiring import configured_plugins
from zalogate.store import Store
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import fast_options, zalo_config


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


def gateway(config: dict[str, Any], state_dir: Path, **kwargs: Any) -> Gateway:
    kwargs.setdefault("channels", [plugin_with_options(fast_options())])
    return Gateway(
        parse_config(config, env={}),
        state_dir=state_dir,
        agent=EchoAgent(),
        http_port=0,
        console_log=False,
        startup_grace=0.05,
        shutdown_timeout=3.0,
        **kwargs,
    )


async def test_polling_round_trip_through_the_gateway(fake: FakeZaloBotApi, tmp_path: Path) -> None:
    config = zalo_config(fake, dmPolicy="open", allowFrom=["*"])
    async with gateway(config, tmp_path, channels=[plugin]) as gw:
        fake.user("u1", name="An").says("xin chào gateway")
        [reply] = await fake.wait_for_sent(1, chat_id="u1")
        assert reply.text == "xin chào gateway"
        async with httpx2.AsyncClient(trust_env=False) as client:
            # The first reply can come back before the monitor has outlived its start-up
            # grace (50 ms here) and counts as running: ask until it does (bounded).
            for _ in range(100):
                health = (await client.get(f"{gw.url}/healthz")).json()
                if health["accounts"][0]["state"] != "starting":
                    break
                await asyncio.sleep(0.02)
        [account] = health["accounts"]
        assert (account["channel"], account["account"], account["state"]) == (
            "zalo",
            "default",
            "running",
        )
        assert account["lastInboundAt"] is not None
        assert account["lastOutboundAt"] is not None
    log_text = gw.log_file.read_text()
    assert "zalo/default monitor running" in log_text
    assert fake.token not in log_text
    assert fake.token.split(":", 1)[1] not in log_text


async def test_webhook_round_trip_through_the_gateway(fake: FakeZaloBotApi, tmp_path: Path) -> None:
    config = zalo_config(
        fake,
        dmPolicy="open",
        allowFrom=["*"],
        webhookUrl="https://example.com/hooks/zalo",
        webhookSecret="gateway-secret-1",
    )
    async with gateway(config, tmp_path) as gw:
        await fake.wait_for_calls("setWebhook")
        async with asyncio.timeout(5):
            while "/hooks/zalo" not in gw.http.mounted():
                await asyncio.sleep(0.005)
        fake.deliver_webhooks_to = gw.url
        fake.user("u2").says("qua webhook")
        [reply] = await fake.wait_for_sent(1, chat_id="u2")
        assert reply.text == "qua webhook"
    assert fake.bot.webhook_url == ""  # deleted on shutdown
    assert "gateway-secret-1" not in gw.log_file.read_text()


async def test_an_admitted_update_is_answered_once_after_a_crash(
    fake: FakeZaloBotApi, tmp_path: Path
) -> None:
    """Admit (the journal is durable), die before processing, start again: one reply."""
    state = tmp_path / "state"
    config = parse_config(zalo_config(fake, dmPolicy="open", allowFrom=["*"]), env={})
    from zalogate.channels.zalo.channel import create_channel
    from zalogate.core.channel import ChannelContext

    store = await Store.open(state)
    inbox = Inbox(store)  # never started: nothing is processed in this "process"
    channel = create_channel(
        ChannelContext(config=config, state_dir=state, store=store, inbox=inbox), fast_options()
    )
    stop = asyncio.Event()
    monitor = asyncio.create_task(channel.run(channel.accounts()[0], stop))
    fake.user("u3").says("survive the crash")
    async with asyncio.timeout(5):
        while inbox.counters.admitted < 1:
            await asyncio.sleep(0.005)
    stop.set()  # the "crash": the monitor goes, the message was never processed
    await monitor
    await channel.aclose()
    await store.close()
    assert fake.sent == []
    assert fake.bot.pending == 0  # Zalo considers it delivered: only our journal has it

    for _ in range(2):  # the first restart replays it; the second finds nothing to do
        async with gateway(zalo_config(fake, dmPolicy="open", allowFrom=["*"]), state) as gw:
            await fake.wait_for_sent(1, chat_id="u3")
            assert gw.inbox is not None
            async with asyncio.timeout(5):
                await gw.inbox.wait_idle()  # type: ignore[attr-defined]
    assert [r.text for r in fake.sent] == ["survive the crash"]


async def test_an_env_token_is_redacted_from_the_log_like_a_configured_one(
    fake: FakeZaloBotApi, tmp_path: Path
) -> None:
    from zalogate.runtime.logging import redact

    options = fast_options(env={"ZALO_BOT_TOKEN": fake.token})
    config = zalo_config(fake, dmPolicy="open", allowFrom=["*"])
    del config["channels"]["zalo"]["botToken"]
    async with gateway(config, tmp_path, channels=[plugin_with_options(options)]) as gw:
        [account] = gw.channels["zalo"].accounts()
        assert fake.token not in repr(account)
        assert fake.token not in redact(f"leaked {fake.token}")
        fake.user("u5").says("env token works")
        await fake.wait_for_sent(1)


async def test_the_token_never_reaches_a_log_record(
    fake: FakeZaloBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("getUpdates", 502)
    fake.drop_next("getUpdates")
    fake.error_next("sendMessage", 500, "Internal error")
    config = zalo_config(fake, dmPolicy="open", allowFrom=["*"])
    async with gateway(config, tmp_path, configure_logs=False):
        fake.user("u4").says("hello")
        await fake.wait_for_sent(1, timeout=30)  # generous: retries back off, CI hosts are busy
        fake.error_next("getUpdates", 401, "Unauthorized")
        await fake.wait_for_calls("getUpdates", 5, timeout=30)
    secret_part = fake.token.split(":", 1)[1]
    assert "Zalo polling error" in caplog.text
    for record in caplog.records:
        text = record.getMessage() + str(record.args) + (record.exc_text or "")
        assert secret_part not in text, record.getMessage()


# -- ZALO_BOT_TOKEN without a channels.zalo section --------------------------------------


def test_the_gateway_starts_zalo_from_the_env_token_alone(tmp_path: Path) -> None:
    env = {"ZALO_BOT_TOKEN": " 123:envonly "}
    state = tmp_path / "state"
    assert [p.id for p in configured_plugins(parse_config({}, env=env), state)] == ["zalo"]
    assert configured_plugins(parse_config({}, env={}), state) == []
    assert configured_plugins(parse_config({}, env={"ZALO_BOT_TOKEN": "  "}), state) == []
    disabled = parse_config({"channels": {"zalo": {"enabled": False}}}, env=env)
    assert configured_plugins(disabled, state) == []
    # The environment the config was loaded with decides (this process has no token) ...
    assert "ZALO_BOT_TOKEN" not in os.environ
    loaded = parse_config({}, env=env)
    assert _channel_configured(loaded.channels, "zalo", config=loaded) is True
    # ... and without the root config only written sections count.
    assert _channel_configured(loaded.channels, "zalo") is False


async def test_env_token_only_end_to_end_groups_fail_closed_and_dms_pair(
    fake: FakeZaloBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 30 (``channels.zalo`` absent) through ``Gateway`` and the installed plugin:
    ``ZALO_BOT_TOKEN`` alone starts ``zalo/default``; a group message from a sender on no list
    is dropped even though ``channels.defaults.groupPolicy`` is open; a DM gets the pairing
    reply; the gateway log warns once and never shows the token."""
    monkeypatch.setattr(zalo_channel, "_warned", set())
    monkeypatch.setenv("ZALO_BOT_TOKEN", fake.token)
    monkeypatch.setenv("ZALO_API_URL", fake.base_url)
    config = parse_config({"channels": {"defaults": {"groupPolicy": "open"}}}, env=os.environ)
    assert config.channels.zalo is None
    async with Gateway(
        config,
        state_dir=tmp_path / "state",
        agent=EchoAgent(),
        http_port=0,
        console_log=False,
        startup_grace=0.05,
        shutdown_timeout=3.0,
    ) as gw:
        assert list(gw.channels) == ["zalo"]
        [account] = gw.channels["zalo"].accounts()
        assert account.account_id == "default"
        await fake.wait_for_calls("getUpdates")
        fake.group("g1", name="Nhóm").user("12345", "A").says("@bot hello group")
        fake.group("g1").user("12346", "B").says("@bot hello again")
        fake.user("777", name="Stranger").says("hi bot")
        [reply] = await fake.wait_for_sent(1, chat_id="777")
        assert gw.inbox is not None
        async with asyncio.timeout(5):
            while gw.inbox.counters.admitted < 3:  # type: ignore[attr-defined]
                await asyncio.sleep(0.005)
            await gw.inbox.wait_idle()  # type: ignore[attr-defined]
        assert [r.chat_id for r in fake.sent] == ["777"]
        assert reply.text is not None
        assert "Your Zalo user id: 777" in reply.text
        assert gw.store is not None
        pending = await SqlitePairingStore(gw.store).list_pending("zalo", "default")
        assert [p.id for p in pending] == ["777"]
    log_text = gw.log_file.read_text()
    assert "[default] starting provider" in log_text
    assert log_text.count("channels.zalo is not in the config") == 1
    assert "channels.zalo.groupPolicy" in log_text
    assert fake.token.split(":", 1)[1] not in log_text
