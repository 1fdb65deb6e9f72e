"""One-off commands and ``zalogate mcp`` in a cluster act on a personal account through the
node running it: never as a second client of the account while a node runs it.

A real 3-server NATS cluster, an in-process gateway node holding the account against the
personal fake (which tells each saved session's client apart by its imei), and the real CLI on
a thread with a state dir of its own, holding a saved session of its own ("another machine").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.cluster import ClusterNode
from zalogate.cluster.session_owner import OwnerRoutedChannel
from zalogate.config import parse_config
from zalogate.config.cluster import ClusterConfig
from zalogate.mcp.server import ChannelToolbox, open_channels
from zalogate.personal import Credentials
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.nats_servers import free_port

from .test_cluster_cli import run_cli
from .test_owner_sends import ALICE, BOT, UA, imei_of, personal_node, state_becomes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LOOKUPS = ("/api/social/friend/getfriends", "/api/social/profile/me-v2")


def machine(
    fake: FakeZaloPersonal,
    cluster: dict[str, Any],
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Point the CLI at a state dir and config of its own, with a saved session; its imei."""
    state = root / "cli"
    creds = Credentials.from_json(fake.credentials(BOT, user_agent=UA, domain="127.0.0.1"))
    CredentialStore(state).save("default", creds, uid=BOT)
    section = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
    }
    config = root / "cli.json"
    config.write_text(
        json.dumps({"channels": {"zalouser": section}, "gateway": {"cluster": cluster}}),
        encoding="utf-8",
    )
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    for name in ("ZALOUSER_PROFILE", "ZCA_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return imei_of(root, "cli")


async def cli(*args: str) -> int:
    return await asyncio.to_thread(run_cli, list(args))


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    """The personal fake with the Bot and its friend Alice."""
    async with FakeZaloPersonal(long_poll_s=0.2) as server:
        server.add_account(BOT, "Bot", friends=(ALICE,))
        server.add_account(ALICE, "Alice")
        yield server


@pytest.fixture
async def idle_node(cluster_section: dict[str, Any]) -> AsyncIterator[ClusterNode]:
    """A node of the cluster that runs no account (the cluster's streams and buckets exist)."""
    async with ClusterNode(ClusterConfig.model_validate(cluster_section), node_id="idle") as node:
        yield node


async def test_cli_commands_act_through_the_node_running_the_account(
    fake: FakeZaloPersonal,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with personal_node(fake, cluster_section, "a", tmp_path) as holder:
        await state_becomes(holder, AccountState.RUNNING)
        here = machine(fake, cluster_section, tmp_path, monkeypatch)
        held = len(fake.calls_of(imei_of(tmp_path, "a")))

        peers = await cli("directory", "peers", "list", "--channel", "zalouser", "--json")
        listed = json.loads(capsys.readouterr().out)
        send = ["message", "send", "--channel", "zalouser", "--target", ALICE]
        sent = await cli(*send, "-m", "from the cli", "--direct", "--json")
        receipt = json.loads(capsys.readouterr().out)
        record = await fake.wait_for_sent(kind="text", text="from the cli")
        probe = ["channels", "status", "--channel", "zalouser", "--probe", "--json"]
        probed = await cli(*probe)
        status = json.loads(capsys.readouterr().out)

    assert (peers, sent, probed) == (0, 0, 0)
    assert [entry["id"] for entry in listed] == [ALICE]
    assert receipt["messageIds"] == [record.msg_id]
    [row] = status["channels"][0]["accounts"]
    assert row["probe"]["ok"] is True
    assert fake.calls_of(here) == []  # this machine's session never acted
    asked = fake.calls_of(imei_of(tmp_path, "a"))[held:]
    assert "/api/social/friend/getfriends" in asked
    assert "/api/message/sms" in asked


@pytest.mark.usefixtures("idle_node")
async def test_with_no_node_holding_the_account_the_cli_acts_from_its_own_session(
    fake: FakeZaloPersonal,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    here = machine(fake, cluster_section, tmp_path, monkeypatch)
    code = await cli("directory", "peers", "list", "--channel", "zalouser", "--json")
    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [entry["id"] for entry in listed] == [ALICE]
    assert "/api/social/friend/getfriends" in fake.calls_of(here)


async def test_a_lease_held_by_a_node_that_does_not_answer_is_refused_in_one_line(
    fake: FakeZaloPersonal,
    idle_node: ClusterNode,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a node took the lease and is not listening yet (or the lease is moving)
    await idle_node.handles.leases.create("account.zalouser.default", b"ghost")
    here = machine(fake, cluster_section, tmp_path, monkeypatch)
    code = await cli("directory", "peers", "list", "--channel", "zalouser")
    err = capsys.readouterr().err
    assert code == 1
    assert "no node runs the zalouser account default now" in err
    assert "Traceback" not in err
    assert fake.calls_of(here) == []


async def test_the_cli_says_in_one_line_when_nats_is_out_of_reach(
    fake: FakeZaloPersonal,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    nats = {"servers": [f"nats://127.0.0.1:{free_port()}"], "connectTimeoutSeconds": 1}
    here = machine(fake, {"nats": nats}, tmp_path, monkeypatch)
    code = await cli("directory", "peers", "list", "--channel", "zalouser")
    err = capsys.readouterr().err
    probed = await cli("channels", "status", "--channel", "zalouser", "--probe", "--json")
    status = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "cannot connect to NATS at nats://127.0.0.1:" in err
    assert len(err.strip().splitlines()) == 1
    assert probed == 1  # a failed probe
    [row] = status["channels"][0]["accounts"]
    assert row["probe"]["ok"] is False
    assert row["probe"]["detail"].startswith("not asked: the cluster is out of reach (cannot")
    assert fake.calls_of(here) == []


async def test_the_mcp_servers_tool_sends_through_the_node_running_the_account(
    fake: FakeZaloPersonal,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with personal_node(fake, cluster_section, "a", tmp_path) as holder:
        await state_becomes(holder, AccountState.RUNNING)
        here = machine(fake, cluster_section, tmp_path, monkeypatch)
        raw = json.loads((tmp_path / "cli.json").read_text(encoding="utf-8"))
        async with open_channels(parse_config(raw), tmp_path / "cli") as channels:
            [channel] = channels
            assert isinstance(channel, OwnerRoutedChannel)
            toolbox = ChannelToolbox(channels)
            arguments = {"action": "send", "threadId": ALICE, "message": "from mcp"}
            result = await toolbox.call("zalouser", arguments)
            record = await fake.wait_for_sent(kind="text", text="from mcp")
    assert result == {"success": True, "messageId": record.msg_id}
    assert fake.calls_of(here) == []


async def test_a_bot_api_send_from_the_cli_needs_no_nats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Bot API sends may go from anywhere: the CLI does not connect to NATS for them, so they
    # work while the cluster's NATS servers are down.
    from zalogate.testing import FakeZaloBotApi

    async with FakeZaloBotApi(name="shop.bot") as bot:
        nats = {"servers": [f"nats://127.0.0.1:{free_port()}"], "connectTimeoutSeconds": 1}
        zalo = {"botToken": bot.token, "apiBaseUrl": bot.base_url}
        config = tmp_path / "zalogate.json"
        config.write_text(
            json.dumps({"channels": {"zalo": zalo}, "gateway": {"cluster": {"nats": nats}}}),
            encoding="utf-8",
        )
        monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
        monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.delenv("ZALO_BOT_TOKEN", raising=False)
        send = ["message", "send", "--channel", "zalo", "--target", "123", "-m", "hi"]
        code = await cli(*send, "--direct")
        err = capsys.readouterr().err
        await bot.wait_for_sent(1)
    assert code == 0, err
    assert [record.text for record in bot.sent] == ["hi"]
