"""Probe, status snapshot, policy warnings and the directory of a ``zalo`` account."""

from __future__ import annotations

from typing import Any

from zalogate.channels.zalo.channel import OPEN_DM_WARNING, OPEN_GROUP_WARNING
from zalogate.core.channel import Directory
from zalogate.core.pairing import SqlitePairingStore
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import HarnessFactory, zalo_config


async def test_probe_reports_the_bot_name_and_mode_without_secrets(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, groupPolicy="allowlist"))
    result = await harness.channel.probe(harness.account())
    assert result.ok
    assert result.identity["account_name"] == "bot.fake"
    assert result.identity["id"] == fake.bot.id
    assert result.identity["mode"] == "polling"
    assert result.warnings == ()
    assert result.elapsed_ms is not None
    assert fake.token not in repr(result)
    [call] = fake.calls
    assert call.method == "getMe"


async def test_probe_with_a_blank_token_says_no_token_provided(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, botToken=""))
    result = await harness.channel.probe(harness.account())
    assert (result.ok, result.detail, result.elapsed_ms) == (False, "No token provided", 0.0)
    assert fake.calls == []


async def test_probe_times_out(fake: FakeZaloBotApi, make_harness: HarnessFactory) -> None:
    harness = await make_harness(zalo_config(fake))
    fake.timeout_next("getMe")
    result = await harness.channel.probe(harness.account(), timeout=0.2)
    assert (result.ok, result.detail) == (False, "Request timed out after 200ms")


async def test_probe_reports_zalo_refusals(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, botToken="1:wrong-token-value"))
    result = await harness.channel.probe(harness.account())
    assert (result.ok, result.detail) == (False, "Unauthorized")
    assert "wrong-token-value" not in repr(result)


async def test_open_dm_and_open_group_warnings(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]))
    account = harness.account()
    assert harness.channel.status_warnings(account) == [OPEN_DM_WARNING, OPEN_GROUP_WARNING]
    result = await harness.channel.probe(account)
    assert tuple(result.warnings) == (OPEN_DM_WARNING, OPEN_GROUP_WARNING)


async def test_unconfigured_accounts_get_no_warnings(make_harness: HarnessFactory) -> None:
    harness = await make_harness({"channels": {"zalo": {"dmPolicy": "open", "allowFrom": ["*"]}}})
    assert harness.channel.status_warnings(harness.account()) == []


async def test_account_snapshot_has_sources_and_no_secret(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(
        zalo_config(
            fake,
            webhookUrl="https://example.com/hook",
            webhookSecret="webhook-secret-1",
            groupPolicy="disabled",
        )
    )
    snapshot = harness.channel.account_snapshot(harness.account())
    assert snapshot == {
        "accountId": "default",
        "name": None,
        "enabled": True,
        "configured": True,
        "tokenSource": "config",
        "tokenStatus": "available",
        "tokenDetail": None,
        "mode": "webhook",
        "dmPolicy": "pairing",
        "groupPolicy": "disabled",
        "warnings": [],
    }
    assert fake.token not in repr(harness.channel.accounts())
    assert "webhook-secret-1" not in repr(harness.channel.accounts())


async def test_directory_self_peers_and_groups(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(
        zalo_config(fake, dmPolicy="pairing", allowFrom=["zalo:123", "zl:234", "345", "*"])
    )
    channel = harness.channel
    assert isinstance(channel.directory, Directory)
    account = harness.account()
    me = await channel.directory.directory_self(account)
    assert (me.id, me.name, me.kind) == (fake.bot.id, "bot.fake", "bot")

    harness.start()
    fake.user("555", name="Năm").says("hi")
    fake.group("g1").user("123").says("@bot hello")
    await fake.wait_for_sent(1)  # the pairing code for 555
    await harness.settle()
    await SqlitePairingStore(harness.store).add_allowed("zalo", "default", "666")

    peers = await channel.directory.directory_peers(account)
    assert [p.id for p in peers] == ["555", "123", "234", "345", "666"]
    assert [p.id for p in await channel.directory.directory_peers(account, query="3", limit=2)] == [
        "123",
        "234",
    ]
    groups = await channel.directory.directory_groups(account)
    assert [(g.id, g.kind) for g in groups] == [("g1", "group")]


async def test_agent_tools_need_an_enabled_account_with_a_token(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(
        zalo_config(fake, accounts={"off": {"enabled": False, "botToken": "1:x"}, "none": {}})
    )
    names: dict[str, Any] = {
        a.account_id: [t.name for t in harness.channel.agent_tools(a, None)]
        for a in harness.channel.accounts()
    }
    assert names == {"default": ["zalo_send"], "off": [], "none": []}
