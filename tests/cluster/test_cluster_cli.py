"""``zalogate cluster status`` and the ``gateway.cluster`` config section."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from zalogate.cli.app import main
from zalogate.cluster import ClusterNode
from zalogate.config import ConfigError, parse_config
from zalogate.config.cluster import ClusterConfig
from zalogate.core.model import ChatType, InboundMessage


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: object) -> None:
    path = tmp_path / "zalogate.json"
    path.write_text(json.dumps({"gateway": {"cluster": cluster}} if cluster else {}))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))


async def test_status_shows_nodes_leases_and_the_inbox(
    cluster_settings: ClusterConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The default 10 s TTL: the lease must outlast two CLI runs on a loaded CI machine.
    cluster_settings = cluster_settings.model_copy(update={"lease_ttl_seconds": 10})
    write_config(tmp_path, monkeypatch, cluster_settings.model_dump(mode="json", by_alias=True))
    stop, running = asyncio.Event(), asyncio.Event()

    async def never(_: InboundMessage) -> None:
        running.set()
        await stop.wait()

    async with ClusterNode(cluster_settings, node_id="node-a") as node:
        inbox = node.inbox(None, never)
        await inbox.start()
        async with node.leases.hold(("zalo", "shop"), stop):
            for index in range(3):
                await inbox.admit(
                    InboundMessage(
                        channel="zalo",
                        account_id="shop",
                        chat_type=ChatType.DIRECT,
                        chat_id="u1",
                        sender_id="u1",
                        message_id=f"m{index}",
                        timestamp_ms=index,
                    )
                )
            await asyncio.wait_for(running.wait(), 30)  # the first one is in work
            await node._beat()  # the heartbeat names the lease now, not in a third of a TTL
            code = await asyncio.to_thread(run_cli, ["cluster", "status", "--json"])
            body = json.loads(capsys.readouterr().out)
            table_code = await asyncio.to_thread(run_cli, ["cluster", "status"])
            table = capsys.readouterr().out
            stop.set()
        await inbox.stop(timeout=1)
    assert code == 0
    assert [n["node"] for n in body["nodes"]] == ["node-a"]
    assert body["nodes"][0]["leases"] == ["zalo/shop"]
    assert body["leases"] == [{"account": "zalo.shop", "node": "node-a"}]
    assert body["inbox"]["messages"] == 3
    assert body["inbox"]["in_flight"] == 1  # one conversation: one message at a time
    assert body["inbox"]["pending"] == 2
    assert len(body["inbox"]["replicas"]) == 3
    assert table_code == 0
    assert "node-a" in table
    assert "zalo.shop" in table


def test_status_without_a_cluster_section_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, monkeypatch, None)
    assert run_cli(["cluster", "status"]) == 1
    err = capsys.readouterr().err
    assert "no gateway.cluster" in err
    assert "Traceback" not in err


def test_status_with_nats_down_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from zalogate.testing.nats_servers import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    write_config(tmp_path, monkeypatch, {"nats": {"servers": [url], "connectTimeoutSeconds": 1}})
    assert run_cli(["cluster", "status"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to NATS" in err
    assert "Traceback" not in err


def test_a_password_in_a_server_url_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from zalogate.testing.nats_servers import free_port

    url = f"nats://ops:s3cr3t-pw@127.0.0.1:{free_port()}"
    write_config(tmp_path, monkeypatch, {"nats": {"servers": [url], "connectTimeoutSeconds": 1}})
    assert run_cli(["cluster", "status"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to NATS at nats://***@127.0.0.1:" in err
    assert "s3cr3t-pw" not in err
    assert "ops:" not in err


async def test_a_password_in_a_server_url_stays_out_of_logs_and_status(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from zalogate.testing.nats_servers import NatsCluster

    with NatsCluster(tmp_path / "nats", size=1, user="ops", password="s3cr3t-pw") as nats:
        section = {"nats": {"servers": nats.urls}, "prefix": "auth", "replicas": 1}
        settings = ClusterConfig.model_validate(section)
        write_config(tmp_path, monkeypatch, section)
        caplog.set_level("DEBUG", logger="zalogate")
        async with ClusterNode(settings, node_id="node-a"):
            code = await asyncio.to_thread(run_cli, ["cluster", "status", "--json"])
            body = json.loads(capsys.readouterr().out)
            table_code = await asyncio.to_thread(run_cli, ["cluster", "status"])
            shown = capsys.readouterr()
    assert "@" in nats.urls[0]  # the node did log in with the password
    assert code == 0
    assert table_code == 0
    assert body["connected_to"] == f"127.0.0.1:{nats.servers[0].port}"
    said = caplog.text + json.dumps(body) + shown.out + shown.err
    assert "joined (NATS 127.0.0.1:" in caplog.text
    assert "s3cr3t-pw" not in said
    assert "ops:" not in said


def test_the_config_refuses_a_server_that_is_not_a_nats_url() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"gateway": {"cluster": {"nats": {"servers": ["http://x:4222"]}}}})
    assert "not a NATS URL" in str(error.value.problems)


def test_the_cluster_password_is_a_secret() -> None:
    config = parse_config(
        {"gateway": {"cluster": {"nats": {"servers": ["nats://a:4222"], "password": "pw-123"}}}}
    )
    assert config.gateway.cluster is not None
    assert "pw-123" not in repr(config.gateway.cluster)


def test_the_single_node_default_does_not_import_nats() -> None:
    import subprocess
    import sys

    code = (
        "import sys, asyncio, contextlib\n"
        "from zalogate.runtime.wiring import open_cluster\n"
        "from zalogate.config import parse_config\n"
        "async def main():\n"
        "    async with contextlib.AsyncExitStack() as stack:\n"
        "        assert await open_cluster(parse_config({}), stack) is None\n"
        "asyncio.run(main())\n"
        "import zalogate.runtime.gateway\n"
        "print('nats' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
