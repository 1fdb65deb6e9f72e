"""Pairing, the allow store, takeover and schedules shared by every node (JetStream KV, real
servers).

Each "node" is a :class:`ClusterNode` with its own NATS connection; what one changes, the
other sees on its next read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from zalogate.cli.app import main
from zalogate.cluster import ClusterNode
from zalogate.cluster.documents import Bucket
from zalogate.cluster.pairing import KvPairingStore
from zalogate.cluster.schedules import SCHEDULER_LEASE_KEY
from zalogate.config.cluster import ClusterConfig
from zalogate.core.access_overlay import AccessOverlays
from zalogate.core.history import HistoryEntry
from zalogate.core.model import ChatType, InboundMessage
from zalogate.core.pairing import PairingError
from zalogate.core.schedules import Schedule
from zalogate.core.takeover import ConversationKey, Takeover
from zalogate.runtime.scheduler import Scheduler


def message(text: str, chat: str = "u1", index: int = 0) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="shop",
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        sender_name="Lan",
        message_id=f"m{index}",
        timestamp_ms=index,
        text=text,
    )


async def test_an_approval_on_one_node_holds_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.shared.pairing for node in nodes)
    first = await b.request("zalo", "shop", "u1", sender_name="Lan")
    assert first.created
    assert first.code is not None
    again = await a.request("zalo", "shop", "u1")  # the sender's second DM, on the other node
    assert (again.created, again.code) == (False, first.code)
    [pending] = await a.list_pending("zalo")
    assert (pending.id, pending.account_id, pending.meta["name"]) == ("u1", "shop", "Lan")

    approved = await a.approve("zalo", first.code.lower())
    assert approved.id == "u1"
    assert "u1" in await b.allowed_senders("zalo", "shop")
    assert await b.allowed_senders("zalo", "other") == frozenset()  # never across accounts
    assert await b.list_pending() == []
    with pytest.raises(PairingError, match="No pending pairing request found for code"):
        await b.approve("zalo", first.code)


async def test_concurrent_approvals_of_one_code_let_exactly_one_succeed(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.shared.pairing for node in nodes)
    code = (await a.request("zalo", "shop", "u1")).code
    assert code is not None
    results = await asyncio.gather(
        *(store.approve("zalo", code) for store in [a, b] * 4), return_exceptions=True
    )
    approved = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, PairingError)]
    assert len(approved) == 1
    assert len(refused) == 7
    assert await a.allowed_senders("zalo", "shop") == frozenset({"u1"})


async def test_concurrent_requests_on_two_nodes_never_exceed_the_cap(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.shared.pairing for node in nodes)
    results = await asyncio.gather(
        *((a if index % 2 else b).request("zalo", "shop", f"sender{index}") for index in range(10))
    )
    assert sum(r.created for r in results) == 3
    assert sum(r.capped for r in results) == 7
    codes = [r.code for r in results if r.created]
    assert len(set(codes)) == 3
    assert len(await a.list_pending("zalo", "shop")) == 3


async def test_requests_expire_and_reject_drops_without_allowing(
    cluster_settings: ClusterConfig, nodes: tuple[ClusterNode, ClusterNode]
) -> None:
    now = [1_000.0]
    js = nodes[0].handles.js  # the bucket through a store with a fake clock
    name = f"{cluster_settings.prefix}_pairing"
    store = KvPairingStore(Bucket(await js.key_value(name), js, name), clock=lambda: now[0])
    old = (await store.request("zalo", "shop", "u1")).code
    now[0] += 3601
    assert await store.list_pending("zalo") == []
    with pytest.raises(PairingError):
        await store.approve("zalo", old or "")
    code = (await store.request("zalo", "shop", "u2")).code
    assert code is not None
    rejected = await store.reject("zalo", code)
    assert rejected.id == "u2"
    assert await nodes[1].shared.pairing.allowed_senders("zalo", "shop") == frozenset()
    with pytest.raises(PairingError):
        await store.reject("zalo", code)


async def test_an_allowlist_change_on_one_node_holds_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.shared.pairing for node in nodes)
    await a.add_allowed("zalo", "shop", " U7 ")
    await asyncio.gather(*(b.add_allowed("zalo", "shop", f"u{i}") for i in range(5)))
    expected = frozenset({"u7", *(f"u{i}" for i in range(5))})
    assert await b.allowed_senders("zalo", "shop") == expected
    assert await b.remove_allowed("zalo", "shop", "u7")
    assert not await a.remove_allowed("zalo", "shop", "u7")
    assert "u7" not in await a.allowed_senders("zalo", "shop")
    with pytest.raises(PairingError, match=r"no '\*'"):
        await a.add_allowed("zalo", "shop", "*")


async def test_a_pause_on_one_node_holds_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    on_a, on_b = (Takeover(node.shared.takeover) for node in nodes)
    key = ConversationKey("zalo", "shop", "u1")
    await on_a.pause(key)
    assert await on_b.paused(message("is anyone there?"))  # recorded, not answered
    assert not await on_b.paused(message("hi", chat="u2"))
    await on_a.record_reply(key, "yes, Minh here", "operator")
    lines = await on_a.transcript(key)
    assert [(line.direction, line.text) for line in lines] == [
        ("in", "is anyone there?"),
        ("out", "yes, Minh here"),
    ]
    assert [k.chat_id for k in await on_b.paused_keys()] == ["u1"]
    assert await on_b.resume(key)
    assert not await on_a.paused(message("thanks"))
    assert not await on_a.resume(key)


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


async def test_pairing_cli_talks_to_the_cluster(
    cluster_settings: ClusterConfig,
    nodes: tuple[ClusterNode, ClusterNode],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = {"gateway": {"cluster": cluster_settings.model_dump(mode="json", by_alias=True)}}
    (tmp_path / "zalogate.json").write_text(json.dumps(config))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(tmp_path / "zalogate.json"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    code = (await nodes[0].shared.pairing.request("zalo", "shop", "u9")).code
    assert code is not None

    assert await asyncio.to_thread(run_cli, ["pairing", "list", "zalo", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in listed["requests"]] == [code]
    assert await asyncio.to_thread(run_cli, ["pairing", "approve", "zalo", code]) == 0
    assert "Approved zalo sender u9" in capsys.readouterr().out
    assert "u9" in await nodes[1].shared.pairing.allowed_senders("zalo", "shop")
    assert await asyncio.to_thread(run_cli, ["pairing", "approve", "zalo", code]) == 1
    assert "No pending pairing request found" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # nothing went to a local SQLite store


async def test_config_show_merges_the_clusters_allowlist_edits(
    cluster_settings: ClusterConfig,
    nodes: tuple[ClusterNode, ClusterNode],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = cluster_settings.model_dump(mode="json", by_alias=True)
    zalo = {"botToken": "12345:abc", "dmPolicy": "allowlist", "allowFrom": ["111"]}
    config = {"gateway": {"cluster": cluster}, "channels": {"zalo": zalo}}
    (tmp_path / "zalogate.json").write_text(json.dumps(config))
    overlays = AccessOverlays(nodes[0].access_store)
    await overlays.allow("zalo", "default", "allowFrom", "333")
    await overlays.block("zalo", "default", "allowFrom", "111")

    args = ["--config", str(tmp_path / "zalogate.json"), "config", "show", "--json"]
    assert await asyncio.to_thread(run_cli, args) == 0
    shown = json.loads(capsys.readouterr().out)["accounts"]["zalo"]["default"]
    assert shown["allowFrom"] == ["333"]
    assert shown["console"]["allowFrom"] == {"added": ["333"], "removed": ["111"]}


async def test_group_history_skipped_on_one_node_is_taken_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.shared.history for node in nodes)
    key = "zalo:shop:group:g1"
    await asyncio.gather(
        *(
            (a if i % 2 else b).append(key, HistoryEntry(f"s{i}", f"line {i}", i), limit=50)
            for i in range(6)
        )
    )
    await a.append(key, HistoryEntry("Lan", "newest", 99, message_id="m9", media=("/x.png",)), 5)
    taken = await b.take(key)
    assert len(taken) == 5  # the limit keeps the newest
    assert taken[-1] == HistoryEntry("Lan", "newest", 99, message_id="m9", media=("/x.png",))
    assert await a.peek(key) == []
    assert await b.take(key) == []
    await a.append(key, HistoryEntry("Lan", "again", 100), limit=50)
    await b.clear(key)
    assert await a.peek(key) == []


async def test_a_transcript_written_on_one_node_is_read_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = (node.transcripts for node in nodes)
    assert a is not None
    assert b is not None
    key = "agent:main:zalo:direct:u1"
    await a.append(
        key, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    )
    await b.append(key, [{"role": "user", "content": "how are you"}])
    assert [m["content"] for m in await b.recent(key, 10)] == ["hi", "hello", "how are you"]
    assert [m["content"] for m in await a.recent(key, 2)] == ["how are you"]  # user first
    assert await b.existing([key, "agent:main:zalo:direct:u2"]) == {key}
    assert await a.clear(key) == 3
    assert await b.existing([key]) == set()
    assert await b.recent(key, 10) == []


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_schedule_added_on_one_node_is_listed_and_cancelled_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    first = await a.shared.schedules.add("zalo", "u1", "họp lúc 10h", at_ms=now_ms() + 60_000)
    second = await a.shared.schedules.add("zalo", "u2", "daily", cron="0 8 * * *", tz="UTC")
    listed = await b.shared.schedules.all()
    assert [s.id for s in listed] == [first.id, second.id]  # next occurrence first
    assert listed[0] == first
    assert await b.shared.schedules.cancel(first.id)
    assert not await a.shared.schedules.cancel(first.id)  # once
    assert [s.id for s in await a.shared.schedules.all()] == [second.id]
    cancelled = await a.shared.schedules.get(first.id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert {s.id for s in await a.shared.schedules.all(include_done=True)} == {
        first.id,
        second.id,
    }


async def test_racing_advances_move_an_occurrence_on_once(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    schedule = await a.shared.schedules.add("zalo", "u1", "tick", cron="* * * * *", tz="UTC")
    [due] = await b.shared.schedules.due(schedule.next_at_ms or 0)
    stores = [a.shared.schedules, b.shared.schedules] * 4
    moved = await asyncio.gather(
        *(s.advance(due, sent=True, now_ms=due.next_at_ms or 0) for s in stores)
    )
    assert moved.count(True) == 1
    after = await b.shared.schedules.get(schedule.id)
    assert after is not None
    assert after.sent_count == 1
    assert after.next_at_ms == (due.next_at_ms or 0) + 60_000
    assert await a.shared.schedules.due(due.next_at_ms or 0) == []


class Outbox:
    """Records each node's scheduled sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def sender(self, node: str):  # type: ignore[no-untyped-def]
        async def send(schedule: Schedule) -> Sequence[str]:
            self.sent.append((node, schedule.id))
            return ["m1"]

        return send


async def wait_until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_two_schedulers_send_an_occurrence_once_and_the_survivor_takes_over(
    cluster_settings: ClusterConfig,
) -> None:
    outbox = Outbox()
    async with (
        ClusterNode(cluster_settings, node_id="node-a") as a,
        ClusterNode(cluster_settings, node_id="node-b") as b,
    ):
        for node in (a, b):
            scheduler = Scheduler(
                node.shared.schedules, outbox.sender(node.node_id), poll_interval=0.05
            )
            node.start_scheduler(scheduler, since_ms=now_ms())
        once = await a.shared.schedules.add("zalo", "u1", "once", at_ms=now_ms() + 1_000)
        await wait_until(lambda: len(outbox.sent) == 1)
        await asyncio.sleep(1.0)  # a second send would show by now
        assert [sent for _, sent in outbox.sent] == [once.id]
        done = await b.shared.schedules.get(once.id)
        assert done is not None
        assert (done.status, done.sent_count) == ("done", 1)

        holder_name = outbox.sent[0][0]
        holder, survivor = (a, b) if holder_name == "node-a" else (b, a)
        lease = await holder.handles.leases.get(SCHEDULER_LEASE_KEY)
        assert lease.value == holder_name.encode()
        # The holder dies without giving the lease back (its task vanishes, the key stays
        # until the TTL): the survivor takes the lease and sends the next schedule.
        running = holder._scheduler
        assert running is not None
        holder._scheduler = None
        running[0].cancel()  # a cancel inside ``hold`` gives the lease back: put it back
        await asyncio.gather(running[0], return_exceptions=True)
        await holder.handles.leases.put(SCHEDULER_LEASE_KEY, holder_name.encode())
        later = await holder.shared.schedules.add("zalo", "u2", "later", at_ms=now_ms() + 500)
        await wait_until(
            lambda: len(outbox.sent) == 2, timeout=cluster_settings.lease_ttl_seconds * 5
        )
        assert outbox.sent[1] == (survivor.node_id, later.id)


async def test_schedule_cli_talks_to_the_cluster(
    cluster_settings: ClusterConfig,
    nodes: tuple[ClusterNode, ClusterNode],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = {
        "gateway": {"cluster": cluster_settings.model_dump(mode="json", by_alias=True)},
        "channels": {"zalo": {"botToken": "12345:abcdef"}},
    }
    (tmp_path / "zalogate.json").write_text(json.dumps(config))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(tmp_path / "zalogate.json"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    args = ["message", "schedule", "-t", "u9", "-m", "hi", "--at", "+10m", "--json"]
    assert await asyncio.to_thread(run_cli, args) == 0
    created = json.loads(capsys.readouterr().out)
    [seen] = await nodes[1].shared.schedules.all()
    assert (seen.id, seen.target, seen.text) == (created["id"], "u9", "hi")
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "list", "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [created["id"]]
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "cancel", seen.id]) == 0
    assert await nodes[0].shared.schedules.all() == []
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "cancel", seen.id]) == 1
    assert "no active schedule" in capsys.readouterr().err


async def test_contact_times_keep_the_latest_interaction_any_node_saw(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    contacts_a, contacts_b = a.shared.contacts, b.shared.contacts
    assert contacts_a is not None
    assert contacts_b is not None
    assert await contacts_a.last("zalooa", "default", "42") is None
    # Both nodes record at once, a with the later time: the later one stays.
    await asyncio.gather(
        contacts_a.touch("zalooa", "default", "42", 2000.0),
        contacts_b.touch("zalooa", "default", "42", 1000.0),
    )
    assert await contacts_b.last("zalooa", "default", "42") == 2000.0
    await contacts_b.touch("zalooa", "default", "42", 1500.0)  # older: changes nothing
    assert await contacts_a.last("zalooa", "default", "42") == 2000.0
    assert await contacts_a.last("zalooa", "other", "42") is None  # per account


async def test_a_reply_window_that_cannot_be_read_from_the_cluster_is_unknown(
    tmp_path: Path,
) -> None:
    from zalogate.channels.zalooa.window import Interactions, Window

    class Away:
        async def touch(self, channel: str, account_id: str, user_id: str, at: float) -> None:
            raise TimeoutError

        async def last(self, channel: str, account_id: str, user_id: str) -> float | None:
            raise TimeoutError

    interactions = Interactions(tmp_path / "i.json", shared=Away(), scope=("zalooa", "default"))
    await interactions.record("42", int((time.time() - 10 * 86400) * 1000))  # logged, kept here
    own = Interactions(tmp_path / "i.json")  # this node's own record, read back alone
    assert await own.current("42") is Window.CLOSED
    assert await interactions.current("42") is Window.UNKNOWN  # never refuse on it: Zalo decides


async def test_a_message_this_node_took_and_processes_reaches_the_cluster(
    tmp_path: Path,
) -> None:
    from zalogate.channels.zalooa.window import Interactions

    class Recorded:
        def __init__(self) -> None:
            self.times: list[float] = []

        async def touch(self, channel: str, account_id: str, user_id: str, at: float) -> None:
            self.times.append(at)

        async def last(self, channel: str, account_id: str, user_id: str) -> float | None:
            return max(self.times, default=None)

    shared = Recorded()
    interactions = Interactions(tmp_path / "i.json", shared=shared, scope=("zalooa", "default"))
    interactions.touch("42", 1_000_000)  # the webhook, on this node: local only
    await interactions.record("42", 1_000_000)  # the same message, processed here
    await interactions.record("42", 1_000_000)  # nothing new: no second write
    assert shared.times == [1000.0]


async def test_the_session_vault_opens_only_with_the_clusters_key(
    cluster_settings: ClusterConfig,
) -> None:
    from zalogate.cluster.vault import KvSessionVault

    settings = cluster_settings.model_copy(
        update={"session_key": SecretStr("the-cluster-session-key-01")}
    )
    async with ClusterNode(settings, node_id="a") as node:
        vault = node.shared.sessions
        assert vault is not None
        await vault.save(("zalouser", "default"), b'{"cookies": "zpw_sek=1"}')
        assert await vault.load(("zalouser", "default")) == b'{"cookies": "zpw_sek=1"}'
        bucket = await node.handles.js.key_value(f"{settings.prefix}_vault")
        other = KvSessionVault(bucket, "another-key-of-16-chars")
        assert await other.load(("zalouser", "default")) is None  # does not open
        raw = await bucket.get("v.zalouser.default")
        assert raw.value is not None
        assert b"zpw_sek" not in raw.value
        await vault.forget(("zalouser", "default"))
        assert await vault.load(("zalouser", "default")) is None
    async with ClusterNode(cluster_settings, node_id="b") as plain:
        assert plain.shared.sessions is None  # no sessionKey: sessions stay per node
