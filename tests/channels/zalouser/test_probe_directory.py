"""Probe, status facts and warnings (P33, P34), the directory and its lookup timeouts (P37)."""

from __future__ import annotations

import time

import pytest

from zalogate.channels.zalouser.errors import ZalouserChannelError

from .conftest import World


async def test_probe_logged_in_reports_the_identity(world: World) -> None:
    world.save_session()
    async with world.channel(world.config(dmPolicy="pairing", groupPolicy="allowlist")) as channel:
        result = await channel.probe(channel.accounts()[0])
    assert result.ok
    assert result.detail == "logged in as Bot"
    assert (result.identity["userId"], result.identity["displayName"]) == (world.BOT, "Bot")
    assert result.identity["listener"] == "stopped"
    assert result.warnings == ()
    assert result.elapsed_ms is not None


async def test_probe_without_a_session_says_how_to_log_in(world: World) -> None:
    async with world.channel(world.config()) as channel:
        result = await channel.probe(channel.accounts()[0])
    assert not result.ok
    assert result.detail.startswith("Not authenticated")
    assert "zalogate channels login --channel zalouser" in result.detail


async def test_probe_of_a_stalled_lookup_times_out_after_at_least_a_second(world: World) -> None:
    """P33: the probe timeout is at least 1 s; a never-settling lookup is "Not authenticated"."""
    world.save_session()
    world.fake.slow("api/social/profile/me-v2", 1.6)
    async with world.channel(world.config()) as channel:
        started = time.monotonic()
        result = await channel.probe(channel.accounts()[0], timeout=0.01)
        took = time.monotonic() - started
    assert not result.ok
    assert result.detail.startswith("Not authenticated (timed out")
    assert took >= 1.0


async def test_status_snapshot_and_warnings(world: World) -> None:
    """P34: an account without a session has one auth warning; ``dmPolicy open`` warns; a
    disabled account has none; an open group policy warns (product decision)."""
    config = world.config(
        dmPolicy="open",
        allowFrom=["*"],
        groupPolicy="open",
        accounts={"default": {}, "off": {"enabled": False}},
    )
    async with world.channel(config) as channel:
        default, off = channel.accounts()
        snapshot = channel.account_snapshot(default)
        assert (snapshot["configured"], snapshot["mode"], snapshot["profile"]) == (
            False,
            "qr",
            "default",
        )
        warnings = snapshot["warnings"]
        assert [w for w in warnings if w.startswith("Not authenticated")] == [warnings[0]]
        assert any('dmPolicy is "open"' in w for w in warnings)
        assert any('groupPolicy is "open"' in w for w in warnings)
        assert channel.status_warnings(off) == []
        world.save_session()
        snapshot = channel.account_snapshot(default)
        assert snapshot["configured"] is True
        assert snapshot["userId"] == world.BOT
        assert not any(w.startswith("Not authenticated") for w in snapshot["warnings"])


async def test_directory_self_peers_groups_and_members(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        account = channel.accounts()[0]
        me = await channel.directory.directory_self(account)
        peers = await channel.directory.directory_peers(account)
        exact_first = await channel.directory.directory_peers(account, "carol")
        limited = await channel.directory.directory_peers(account, None, 1)
        groups = await channel.directory.directory_groups(account)
        team = await channel.directory.directory_groups(account, "team")
        members = await channel.group_members.directory_group_members(
            account, f"group:{world.GROUP}"
        )
        same = await channel.group_members.directory_group_members(account, world.GROUP)
        with pytest.raises(ZalouserChannelError, match="not found"):
            await channel.group_members.directory_group_members(account, "424242")
    assert (me.id, me.name) == (world.BOT, "Bot")
    assert [(p.id, p.name) for p in peers] == [(world.ALICE, "Alice"), (world.CAROL, "Carol")]
    assert [p.id for p in exact_first] == [world.CAROL]
    assert len(limited) == 1
    assert {(g.id, g.name, g.kind) for g in groups} == {
        (f"group:{world.GROUP}", "Team", "group"),
        (f"group:{world.GROUP2}", "Other", "group"),
    }
    assert [g.extra["memberCount"] for g in team] == [4]
    assert [(m.id, m.name) for m in members] == [
        (world.BOT, "Bot"),
        (world.ALICE, "Alice"),
        (world.CAROL, "Carol"),
        (world.BOT2, "Bot Two"),
    ]
    assert same == members


@pytest.mark.parametrize(
    ("endpoint", "call", "message"),
    [
        ("api/social/friend/getfriends", "directory_peers", "Timed out fetching Zalo friend list"),
        ("api/group/getlg/v4", "directory_groups", "Timed out fetching Zalo group list"),
        ("api/social/profile/me-v2", "directory_self", "Timed out fetching Zalo account info"),
    ],
)
async def test_stalled_lookups_time_out_with_specific_messages(
    world: World, endpoint: str, call: str, message: str
) -> None:
    """P37."""
    world.save_session()
    async with world.channel(world.config(), world.options(lookup_timeout=0.3)) as channel:
        account = channel.accounts()[0]
        await channel.connection(account).client()  # log in before the endpoint stalls
        world.fake.slow(endpoint, 0.8)
        with pytest.raises(ZalouserChannelError, match=message):
            await getattr(channel.directory, call)(account)


async def test_stalled_group_members_lookup(world: World) -> None:
    world.save_session()
    async with world.channel(world.config(), world.options(lookup_timeout=0.3)) as channel:
        account = channel.accounts()[0]
        await channel.connection(account).client()
        world.fake.slow("api/social/group/members", 0.8)
        with pytest.raises(ZalouserChannelError, match="Timed out fetching Zalo group members"):
            await channel.group_members.directory_group_members(account, world.GROUP)
        world.fake.clear_faults()
        world.fake.slow("api/group/getmg-v2", 0.8)
        with pytest.raises(ZalouserChannelError, match="Timed out fetching Zalo group info"):
            await channel.group_members.directory_group_members(account, world.GROUP)
