"""``zalogate cluster import-state`` and ``zalogate import openclaw`` into a cluster, against
a real 3-server NATS cluster: a single node's SQLite state (written by its own stores) moves
into the buckets once; a second run moves nothing; what the cluster holds differently is kept
and reported."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import json5
import pytest

from zalogate.agents.transcripts import SqliteTranscriptStore
from zalogate.cli.app import main
from zalogate.cluster import ClusterNode
from zalogate.cluster.shared import open_state_sinks
from zalogate.config.cluster import ClusterConfig
from zalogate.core.access import OverlayEntry
from zalogate.core.access_overlay import SqliteAccessOverlayStore
from zalogate.core.pairing import SqlitePairingStore
from zalogate.core.schedules import SqliteScheduleStore
from zalogate.core.state_transfer import SessionTranscript
from zalogate.core.takeover import ConversationKey, SqliteTakeoverState, TranscriptLine
from zalogate.store import Store
from zalogate.testing.gateway_nodes import bot_cluster, wait_for
from zalogate.testing.nats_servers import NatsCluster, free_port

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw" / "state"

APPROVED = "7200000000000000001"  # approved by pairing on the single node
OVERLAID = "7200000000000000002"  # let in by a console allowlist edit
REMINDED = "7200000000000000003"  # the target of a schedule
HELD = "7200000000000000004"  # a paused conversation
WAITING = "7200000000000000005"  # a pending pairing request
STRANGER = "7200000000000000009"


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


def point_cli_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], state: Path
) -> None:
    path = tmp_path / "cli.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))


async def import_state(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """Run the command (its own event loop, in a thread) with ``--json``."""
    code = await asyncio.to_thread(run_cli, ["cluster", "import-state", "--json", *args])
    out = capsys.readouterr().out
    report = json.loads(out) if out.strip() else None
    return code, report


def counts(report: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {k["kind"]: (k["moved"], k["present"], k["conflicts"]) for k in report["kinds"]}


async def single_node_state(state: Path, *, schedule_at_ms: int) -> str:
    """What one node wrote through its own stores; returns the pending request's code."""
    async with await Store.open(state) as store:
        pairing = SqlitePairingStore(store)
        approved = await pairing.request("zalo", "default", APPROVED, sender_name="Lan")
        assert approved.code is not None
        await pairing.approve("zalo", approved.code)
        await pairing.add_allowed("zalo", "default", HELD)
        pending = await pairing.request("zalo", "default", WAITING)
        assert pending.code is not None
        await SqliteAccessOverlayStore(store).put(
            "zalo", "default", OverlayEntry("allowFrom", OVERLAID, False, 1_000)
        )
        await SqliteScheduleStore(store).add(
            "zalo", REMINDED, "nhắc: họp lúc 9h", at_ms=schedule_at_ms
        )
        transcripts = SqliteTranscriptStore(store)
        await transcripts.append(
            "s-moved", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
        )
        await transcripts.append("s-clash", [{"role": "user", "content": "single node"}])
        takeover = SqliteTakeoverState(store)
        held = ConversationKey("zalo", "default", HELD)
        await takeover.pause(held, 5_000)
        await takeover.record(held, TranscriptLine("in", "Hoa", "a human please", 5_001))
        return pending.code


async def test_a_node_moves_once_and_a_clash_is_kept(
    cluster_settings: ClusterConfig,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "single"
    code = await single_node_state(state, schedule_at_ms=int(time.time() * 1000) + 3_600_000)
    point_cli_at(tmp_path, monkeypatch, {"gateway": {"cluster": cluster_section}}, state)
    clash = [{"role": "user", "content": "said in the cluster"}]
    async with open_state_sinks(cluster_settings, name="test", source="elsewhere") as sinks:
        await sinks.transcripts.adopt_transcript(
            SessionTranscript("s-clash", tuple(clash)), dry_run=False
        )

    exit_code, dry = await import_state(capsys, "--dry-run")
    assert exit_code == 3  # the clash
    assert dry["dryRun"] is True
    moved = {
        "allowed": (2, 0, 0),
        "pending": (1, 0, 0),
        "overlays": (1, 0, 0),
        "schedules": (1, 0, 0),
        "transcripts": (1, 0, 1),
        "paused": (1, 0, 0),
    }
    assert counts(dry) == moved
    async with ClusterNode(cluster_settings, node_id="look") as node:
        assert await node.shared.pairing.allowed_senders("zalo", "default") == frozenset()
        assert await node.shared.schedules.all(include_done=True) == []
        assert await node.shared.takeover.paused_keys() == []

    exit_code, first = await import_state(capsys)
    assert exit_code == 3
    assert counts(first) == moved
    [clashing] = [k for k in first["kinds"] if k["kind"] == "transcripts"]
    assert clashing["conflicting"] == ["s-clash"]

    exit_code, again = await import_state(capsys)
    assert exit_code == 3
    assert counts(again) == {kind: (0, m, c) for kind, (m, _, c) in moved.items()}

    # Removed in the cluster after the move: a later run does not put it back.
    async with ClusterNode(cluster_settings, node_id="look") as node:
        assert await node.shared.pairing.remove_allowed("zalo", "default", HELD)
        assert await node.shared.takeover.resume(ConversationKey("zalo", "default", HELD))
    exit_code, later = await import_state(capsys)
    assert exit_code == 3
    assert counts(later) == counts(again)

    async with ClusterNode(cluster_settings, node_id="look") as node:
        shared = node.shared
        assert await shared.pairing.allowed_senders("zalo", "default") == {APPROVED}
        [request] = await shared.pairing.list_pending("zalo")
        assert (request.id, request.code) == (WAITING, code)  # the code the sender holds
        [schedule] = await shared.schedules.all()
        assert (schedule.target, schedule.text) == (REMINDED, "nhắc: họp lúc 9h")
        held = ConversationKey("zalo", "default", HELD)
        assert not await shared.takeover.is_paused(held)  # resumed in the cluster: stays so
        assert [x.text for x in await shared.takeover.recorded(held, 10)] == ["a human please"]
        overlays = await node.access_store.load_all()
        assert [e.entry for e in overlays[("zalo", "default")].entries] == [OVERLAID]
        transcripts = node.transcripts
        assert transcripts is not None
        assert [m["content"] for m in await transcripts.recent("s-moved", 10)] == ["hi", "yo"]
        kept = await transcripts.recent("s-clash", 10)
        assert [m["content"] for m in kept] == ["said in the cluster"]


async def test_a_schedule_the_cluster_has_sent_since_is_already_there(
    cluster_settings: ClusterConfig,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "single"
    async with await Store.open(state) as store:
        schedule = await SqliteScheduleStore(store).add(
            "zalo", REMINDED, "daily", cron="0 9 * * *", tz="Asia/Ho_Chi_Minh"
        )
    point_cli_at(tmp_path, monkeypatch, {"gateway": {"cluster": cluster_section}}, state)
    assert (await import_state(capsys))[0] == 0
    assert schedule.next_at_ms is not None
    async with ClusterNode(cluster_settings, node_id="look") as node:
        assert await node.shared.schedules.advance(schedule, sent=True, now_ms=schedule.next_at_ms)
    exit_code, report = await import_state(capsys)
    assert exit_code == 0
    assert counts(report)["schedules"] == (0, 1, 0)


async def test_errors_are_one_line(
    nats_cluster: NatsCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "single"
    async with await Store.open(state):
        pass
    point_cli_at(tmp_path, monkeypatch, {}, state)
    assert await asyncio.to_thread(run_cli, ["cluster", "import-state"]) == 1
    err = capsys.readouterr().err
    assert "no gateway.cluster" in err
    assert "Traceback" not in err

    cluster = {"nats": {"servers": nats_cluster.urls}, "prefix": "errs"}
    point_cli_at(tmp_path, monkeypatch, {"gateway": {"cluster": cluster}}, state)
    missing = tmp_path / "nowhere"
    args = ["cluster", "import-state", "--state-dir", str(missing)]
    assert await asyncio.to_thread(run_cli, args) == 1
    err = capsys.readouterr().err
    assert f"no zalogate state in {missing}" in err
    assert "--state-dir" in err

    away = {"servers": [f"nats://127.0.0.1:{free_port()}"], "connectTimeoutSeconds": 0.5}
    secret = "s3cr3t-nats-password"
    away |= {"user": "zg", "password": secret}
    point_cli_at(tmp_path, monkeypatch, {"gateway": {"cluster": {"nats": away}}}, state)
    assert await asyncio.to_thread(run_cli, ["cluster", "import-state"]) == 1
    captured = capsys.readouterr()
    assert "cannot connect to NATS" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert secret not in captured.err + captured.out


async def test_openclaw_imports_into_the_cluster(
    cluster_settings: ClusterConfig,
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("ZALOGATE_CONFIG", "ZALOGATE_STATE_DIR", "OPENCLAW_STATE_DIR", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    target = tmp_path / "zg" / "zalogate.json5"
    target.parent.mkdir()
    target.write_text(json.dumps({"gateway": {"cluster": cluster_section}}))
    args = ["import", "openclaw", "--from", str(FIXTURE), "--config", str(target), "--force"]
    assert await asyncio.to_thread(run_cli, [*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cluster"] is True
    took = {item["what"] for item in report["took"] if item["kind"] == "allow"}
    assert "zalouser/default: 1 approved sender(s) (into the cluster's pairing store)" in took

    written = json5.loads(target.read_text())
    assert written["gateway"]["cluster"] == cluster_section  # still a cluster
    async with ClusterNode(cluster_settings, node_id="look") as node:
        allowed = await node.shared.pairing.allowed_senders("zalouser", "default")
    assert allowed == frozenset({"9000000000000002"})
    state = Path(os.environ["HOME"]) / ".zalogate"
    assert not (state / "zalogate.db").exists()  # nothing in a local allow store


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_gateway_nodes_answer_the_moved_senders(
    nats_cluster: NatsCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Real gateway nodes after the move: the approved and the overlaid sender are answered
    (also by the second node once the first stops), the paused one is not, a stranger gets a
    code, and the moved schedule is sent once."""
    cluster = {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"mv{os.getpid()}",
        "leaseTtlSeconds": 3,
        "partitions": 4,
    }
    state = tmp_path / "single"
    due = int(time.time() * 1000) + 10_000  # a late one is sent too (schedules.missed)
    await single_node_state(state, schedule_at_ms=due)
    point_cli_at(tmp_path, monkeypatch, {"gateway": {"cluster": cluster}}, state)
    exit_code, report = await import_state(capsys)
    assert exit_code == 0, report
    assert all(k["moved"] for k in report["kinds"])

    pairing = {"dmPolicy": "pairing", "allowFrom": []}
    (tmp_path / "nodes").mkdir()
    async with bot_cluster(cluster, tmp_path / "nodes", zalo=pairing) as (fake, nodes, _):

        def texts(user_id: str) -> list[str]:
            return [str(r.text) for r in fake.sent if str(r.chat_id) == user_id]

        for user_id in (APPROVED, OVERLAID, HELD, STRANGER):
            fake.user(user_id).says(f"hello from {user_id}")
        await wait_for("the approved sender's answer", lambda: bool(texts(APPROVED)), nodes)
        await wait_for("the overlaid sender's answer", lambda: bool(texts(OVERLAID)), nodes)
        await wait_for("the stranger's code", lambda: bool(texts(STRANGER)), nodes)
        assert texts(APPROVED) == [f"hello from {APPROVED}"]
        assert texts(OVERLAID) == [f"hello from {OVERLAID}"]
        assert "Pairing code:" in texts(STRANGER)[0]

        holder = next(n for n in nodes if n.account_state() == "running")
        await asyncio.to_thread(holder.stop)  # the other node takes the account
        fake.user(APPROVED).says("still me")
        await wait_for("the other node's answer", lambda: len(texts(APPROVED)) == 2, nodes)
        assert texts(APPROVED)[1] == "still me"

        await wait_for("the moved reminder", lambda: bool(texts(REMINDED)), nodes)
        await asyncio.sleep(2.0)  # a second send would show by now
        assert texts(REMINDED) == ["nhắc: họp lúc 9h"]
        assert texts(HELD) == []  # paused: the operator answers
