"""A reply is sent once per successful send: ambiguous sends are resent at most once, a
record that fails after a confirmed send never resends, and a replay resumes after the last
confirmed chunk (the outbox log). The log holds one line per chunk on a first attempt (its
outcome), and an intent before the send only where a replay may have to tell (a retry, a
replay, ``resendUnknown: never``); ``fsync`` flushes each line. At most ``max_in_flight``
sends of an account await Zalo's answer at a time; the agents still run concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.core import outbox as outbox_module
from zalogate.core.access import AccountPolicy, policy_from_settings
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.errors import DeliveryError, FailureKind
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.outbox import OUTBOX_FILENAME, Outbox, next_step
from zalogate.core.pipeline import Pipeline
from zalogate.store import Store

ACCOUNT = ChannelAccount(channel="zalo", account_id="default", enabled=True, settings={})
POLICY = AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset({"*"}))
FAST = BackoffConfig(min_delay=0.001, max_delay=0.002)

Outcome = str  # "ok", "unknown-after" (Zalo has it, answer lost), "unknown-before", "fail"


class ZaloLike(Channel):
    """Records what "Zalo" accepted; each send plays the next scripted outcome."""

    id = "zalo"
    text_limit = 2000

    def __init__(self, script: Sequence[Outcome] = ()) -> None:
        self.script = list(script)
        self.accepted: list[str] = []
        self.calls = 0

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ACCOUNT]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.calls += 1
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "fail":
            raise DeliveryError("HTTP 502", retryable=True)
        if outcome != "unknown-before":
            self.accepted.append(reply.text)
        if outcome.startswith("unknown"):
            raise DeliveryError("connection reset", kind=FailureKind.DELIVERY_UNKNOWN)
        return DeliveryReceipt(message_ids=(f"z{len(self.accepted)}",))


def dm(n: int = 1) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id="u1",
        sender_id="u1",
        message_id=f"m{n}",
        timestamp_ms=n,
        text=f"hello {n}",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


def pipeline(store: Store, channel: Channel, **options: Any) -> Pipeline:
    return Pipeline(
        store=store,
        channels={"zalo": channel},
        policy_for=lambda m: POLICY,
        agent=EchoAgent(),
        **options,
    )


async def run(store: Store, pipe: Pipeline, *messages: InboundMessage) -> Inbox:
    inbox = Inbox(store, pipe.process, config=InboxConfig(backoff=FAST, max_concurrency=4))
    async with inbox:
        for message in messages:
            await inbox.admit(message)
        await asyncio.wait_for(inbox.wait_idle(), 10)
    return inbox


@pytest.mark.parametrize(
    ("script", "accepted", "calls", "counts"),
    [
        # a reset after Zalo took it: resent once (one duplicate, known and counted)
        (["unknown-after"], 2, 2, {"ambiguous": 1, "resends": 1, "abandoned": 0}),
        # a reset before Zalo saw it: the one resend delivers it
        (["unknown-before"], 1, 2, {"ambiguous": 1, "resends": 1, "abandoned": 0}),
        # the resend is ambiguous too: never a resend of a resend
        (["unknown-after", "unknown-after"], 2, 2, {"ambiguous": 2, "resends": 1, "abandoned": 1}),
        # a definite failure (502) is simply retried: no duplicate
        (["fail", "fail"], 1, 3, {"ambiguous": 0, "resends": 0, "abandoned": 0}),
    ],
)
async def test_ambiguous_sends_are_resent_at_most_once(
    store: Store, script: list[str], accepted: int, calls: int, counts: dict[str, int]
) -> None:
    channel = ZaloLike(script)
    pipe = pipeline(store, channel)
    inbox = await run(store, pipe, dm())
    assert channel.accepted == ["hello 1"] * accepted
    assert channel.calls == calls
    c = pipe.counters
    assert {"ambiguous": c.ambiguous, "resends": c.resends, "abandoned": c.abandoned} == counts
    assert inbox.counters.processed == 1
    assert inbox.counters.dead_lettered == 0


async def test_resend_never_gives_an_ambiguous_send_up(store: Store) -> None:
    channel = ZaloLike(["unknown-after"])
    pipe = pipeline(store, channel, resend_unknown=False)
    await run(store, pipe, dm())
    assert channel.accepted == ["hello 1"]
    assert channel.calls == 1
    assert pipe.counters.abandoned == 1


async def test_a_failing_record_after_a_confirmed_send_never_resends(store: Store) -> None:
    """Disk full while replying: a fault under the store's writer fails every delivery
    record and done mark; the reply still goes out once."""
    channel = ZaloLike()
    real_submit = store.submit
    full = False

    def submit(fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        def write(conn: sqlite3.Connection) -> Any:
            if full:
                raise sqlite3.OperationalError("database or disk is full")
            return fn(conn)

        return real_submit(write)

    store.submit = submit  # type: ignore[method-assign]
    pipe = pipeline(store, channel)
    inbox = Inbox(store, pipe.process, config=InboxConfig(backoff=FAST))
    await inbox.start()
    await inbox.admit(dm())  # the journal write succeeds, the disk fills up right after
    full = True
    await asyncio.sleep(0.3)
    full = False
    await asyncio.wait_for(inbox.wait_idle(), 10)
    await inbox.stop()
    assert channel.accepted == ["hello 1"]
    assert pipe.counters.unrecorded >= 1


async def test_a_replay_resumes_after_the_last_confirmed_chunk(
    store: Store, tmp_path: Path
) -> None:
    """What a SIGKILL leaves: the outbox log says chunk 0 was confirmed, chunk 1 was being
    sent (no outcome) and the store has neither. The replay skips 0 and resends 1 once."""
    log = Outbox(tmp_path / OUTBOX_FILENAME)
    log.note(("zalo", "default", "m1", 0), "sending")
    log.note(("zalo", "default", "m1", 0), "sent", ["z1"])
    log.note(("zalo", "default", "m1", 1), "sending")
    log.close()

    class TwoChunks(EchoAgent):
        async def respond(self, turn: Any) -> AsyncIterator[ReplyPayload]:
            yield ReplyPayload(text="first")
            yield ReplyPayload(text="second")

    channel = ZaloLike()
    pipe = Pipeline(
        store=store, channels={"zalo": channel}, policy_for=lambda m: POLICY, agent=TwoChunks()
    )
    inbox = Inbox(store, pipe.process, config=InboxConfig(backoff=FAST))
    await inbox.admit(dm())  # journalled before the "crash"; start() replays it
    async with inbox:
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert channel.accepted == ["second"]
    assert pipe.counters.resends == 1
    assert pipe.counters.chunks_already_sent == 1


def test_next_step_table() -> None:
    assert next_step(None, resend_unknown=True) == "send"
    assert next_step("failed", resend_unknown=True) == "send"
    assert next_step("sent", resend_unknown=True) == "skip"
    assert next_step("partial", resend_unknown=True) == "skip"
    assert next_step("sending", resend_unknown=True) == "resend"
    assert next_step("unknown", resend_unknown=True) == "resend"
    assert next_step("unknown", resend_unknown=False) == "abandon"
    assert next_step("resending", resend_unknown=True) == "abandon"


def test_a_torn_last_line_counts_as_not_started(tmp_path: Path) -> None:
    path = tmp_path / OUTBOX_FILENAME
    path.write_text('{"k":["zalo","a","m",0],"s":"sent","i":["1"]}\n{"k":["zalo","a","m",1],"s')
    assert Outbox(path).statuses(("zalo", "a", "m")) == {0: ("sent", ("1",))}


def statuses(store: Store) -> list[tuple[str, str]]:
    path = Path(store.path).parent / OUTBOX_FILENAME
    return [
        (json.loads(line)["k"][2], json.loads(line)["s"]) for line in path.read_text().splitlines()
    ]


async def test_a_first_attempt_writes_only_the_outcome(store: Store) -> None:
    await run(store, pipeline(store, ZaloLike()), dm(1), dm(2))
    assert sorted(statuses(store)) == [("m1", "sent"), ("m2", "sent")]


async def test_a_retry_notes_its_intent_before_the_send(store: Store) -> None:
    await run(store, pipeline(store, ZaloLike(["fail"])), dm())
    assert statuses(store) == [("m1", "failed"), ("m1", "sending"), ("m1", "sent")]


async def test_resend_never_notes_every_intent(store: Store) -> None:
    await run(store, pipeline(store, ZaloLike(), resend_unknown=False), dm())
    assert statuses(store) == [("m1", "sending"), ("m1", "sent")]


@pytest.mark.parametrize("libc", [True, False])
def test_lines_are_json_and_read_back(tmp_path: Path, monkeypatch: Any, libc: bool) -> None:
    if not libc:  # no libc (another OS): plain os.write
        monkeypatch.setattr(outbox_module, "_LIBC_WRITE", None)
    path = tmp_path / OUTBOX_FILENAME
    log = Outbox(path)
    key = ("zalo", 'a"\\', "m\u00e9\U0001f600", 3)
    log.note(key, "partial", ['i"1', "2"])
    log.close()
    line = path.read_text()
    assert (
        line
        == json.dumps({"k": list(key), "s": "partial", "i": ['i"1', "2"]}, separators=(",", ":"))
        + "\n"
    )
    assert Outbox(path).statuses(key[:3]) == {3: ("partial", ('i"1', "2"))}


async def test_fsync_flushes_the_lines_once_for_every_waiting_send(
    tmp_path: Path, monkeypatch: Any
) -> None:
    flushed: list[int] = []
    monkeypatch.setattr(os, "fdatasync", flushed.append)
    log = Outbox(tmp_path / OUTBOX_FILENAME, fsync=True)
    for seq in range(5):
        log.note(("zalo", "a", "m", seq), "sent", [str(seq)])
    await asyncio.gather(*(log.flush() for _ in range(5)))
    assert len(flushed) == 1  # one fdatasync for the five lines and five waiting sends
    await log.flush()
    assert len(flushed) == 1  # nothing new to flush
    log.note(("zalo", "a", "m", 5), "sent", ["5"])
    await log.flush()
    assert len(flushed) == 2
    unsynced = Outbox(tmp_path / "other.log")
    unsynced.note(("zalo", "a", "m", 0), "sent", ["1"])
    await unsynced.flush()
    assert len(flushed) == 2


async def test_a_send_with_fsync_goes_through(store: Store, tmp_path: Path) -> None:
    log = Outbox(tmp_path / "fsynced.log", fsync=True)
    channel = ZaloLike()
    await run(store, pipeline(store, channel, outbox=log), dm(1), dm(2))
    assert sorted(channel.accepted) == ["hello 1", "hello 2"]
    assert log._synced == log._lines == 2


def test_a_failing_write_keeps_the_status_in_memory(tmp_path: Path) -> None:
    log = Outbox(tmp_path / "missing" / OUTBOX_FILENAME)  # no such folder: every write fails
    log.note(("zalo", "a", "m", 0), "sent", ["1"])
    assert log.statuses(("zalo", "a", "m")) == {0: ("sent", ("1",))}


class SlowZalo(ZaloLike):
    """Holds each send until ``gate`` sends are in flight (or 5 s passed); records the most
    sends in flight at once."""

    def __init__(self, gate: int) -> None:
        super().__init__()
        self.gate = gate
        self.opened = asyncio.Event()
        self.in_flight = 0
        self.most = 0

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.gate:
            self.opened.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.opened.wait(), 5)
            return await super().send(account, target, reply)
        finally:
            self.in_flight -= 1


class SlowAgent(EchoAgent):
    """Thinks for 50 ms; records the most turns running at once."""

    running = 0
    most = 0

    async def respond(self, turn: Any) -> AsyncIterator[ReplyPayload]:
        SlowAgent.running += 1
        SlowAgent.most = max(SlowAgent.most, SlowAgent.running)
        await asyncio.sleep(0.05)
        SlowAgent.running -= 1
        yield ReplyPayload(text=turn.text)


def from_user(n: int) -> InboundMessage:
    return dm(n).model_copy(update={"chat_id": f"u{n}", "sender_id": f"u{n}"})


@pytest.mark.parametrize(
    ("limit", "own", "most"), [(None, None, 1), (3, None, 3), (0, None, 8), (None, 2, 2)]
)
async def test_sends_in_flight_per_account_are_capped(
    store: Store, limit: int | None, own: int | None, most: int
) -> None:
    """The default (1) lets one send per account await Zalo's answer: a kill cuts off at
    most one; an account's own ``maxInFlight`` overrides it. The agents of different
    conversations still think at the same time."""
    SlowAgent.most = 0
    channel = SlowZalo(gate=most)
    options = {} if limit is None else {"max_in_flight": limit}
    policy = policy_from_settings(
        "zalo", {"dmPolicy": "open", "allowFrom": ["*"], "maxInFlight": own}
    )
    pipe = Pipeline(
        store=store,
        channels={"zalo": channel},
        policy_for=lambda m: policy,
        agent=SlowAgent(),
        **options,
    )
    inbox = Inbox(store, pipe.process, config=InboxConfig(backoff=FAST, max_concurrency=8))
    async with inbox:
        for n in range(8):
            await inbox.admit(from_user(n))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert sorted(channel.accepted) == sorted(f"hello {n}" for n in range(8))
    assert channel.most == most
    assert SlowAgent.most > 1


class KeptElsewhere(Outbox):
    """A delivery log that keeps its notes elsewhere too (a cluster's shared records): what
    was noted and when it was kept, next to the sends, in one list of events."""

    flush_intents = True

    def __init__(self, path: Path, events: list[str]) -> None:
        super().__init__(path)
        self.fsync = True
        self.events = events

    def note(self, key: Any, status: str, ids: Sequence[str] = ()) -> None:
        super().note(key, status, ids)
        self.events.append(f"note {status}")

    async def flush(self, message: Any = None) -> None:
        self.events.append(f"kept {message[2]}")


class Logged(ZaloLike):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.events.append("send")
        return await super().send(account, target, reply)


async def test_a_log_kept_elsewhere_has_the_intent_before_the_send(
    store: Store, tmp_path: Path
) -> None:
    events: list[str] = []
    log = KeptElsewhere(tmp_path / OUTBOX_FILENAME, events)
    await run(store, pipeline(store, Logged(events), outbox=log, resend_unknown=False), dm())
    assert events == ["note sending", "kept m1", "send", "note sent", "kept m1"]
