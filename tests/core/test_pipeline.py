"""The pipeline: access, mention gating with history, agent turn, ordered recorded delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.core import presence
from zalogate.core.access import AccountPolicy, GroupRule
from zalogate.core.agent import Turn
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.errors import DeliveryError, NonRetryableError
from zalogate.core.history import HISTORY_MARKER
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.model import (
    ChatType,
    DeliveryReceipt,
    InboundMessage,
    MediaRef,
    MentionFacts,
    ReplyPayload,
)
from zalogate.core.pairing import SqlitePairingStore
from zalogate.core.pipeline import Pipeline, SessionOptions, apply_response_prefix, is_silent
from zalogate.store import Store

ACCOUNT = ChannelAccount(channel="zalo", account_id="default", enabled=True, settings={})


@dataclass
class Sent:
    target: str
    reply: ReplyPayload


@dataclass
class MemoryChannel(Channel):
    """An in-memory channel that records what it sends and can be told to fail."""

    id: str = "zalo"
    text_limit: int = 2000
    sent: list[Sent] = field(default_factory=list)
    failures: list[Exception | DeliveryReceipt] = field(default_factory=list)
    typing_calls: list[str] = field(default_factory=list)
    typing_error: Exception | None = None

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ACCOUNT]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, DeliveryReceipt):
                return failure
            raise failure
        self.sent.append(Sent(target, reply))
        return DeliveryReceipt(message_ids=(f"out-{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)

    @property
    def presence(self) -> MemoryChannel:
        return self

    async def typing(self, account: ChannelAccount, target: str) -> None:
        self.typing_calls.append(target)
        if self.typing_error is not None:
            raise self.typing_error

    @property
    def texts(self) -> list[str]:
        return [s.reply.text for s in self.sent]


class ScriptedAgent:
    """Records turns; replies with the given payloads (default: echo the text)."""

    def __init__(self, replies: Sequence[ReplyPayload] | None = None) -> None:
        self.replies = replies
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        if self.replies is None:
            yield ReplyPayload(text=turn.text)
            return
        for reply in self.replies:
            yield reply


def dm(n: int = 1, *, sender: str = "u1", text: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=sender,
        sender_id=sender,
        sender_name="An",
        message_id=f"{sender}-{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=f"hello {n}" if text is None else text,
    )


def group(
    n: int, text: str, *, mentioned: bool = False, sender: str = "u1", name: str = "Alice"
) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.GROUP,
        chat_id="g1",
        sender_id=sender,
        sender_name=name,
        message_id=f"g-{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=text,
        mentions=MentionFacts(was_mentioned=mentioned),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


def make_pipeline(
    store: Store,
    channel: MemoryChannel,
    agent: ScriptedAgent,
    policy: AccountPolicy | None = None,
    **options: object,
) -> Pipeline:
    chosen = policy or AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset("*"))
    return Pipeline(
        store=store,
        channels={"zalo": channel},
        policy_for=lambda message: chosen,
        agent=agent,
        **options,  # type: ignore[arg-type]
    )


async def test_allowed_dm_is_answered_in_the_same_chat(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    pipeline = make_pipeline(store, channel, agent)
    outcome = await pipeline.handle(dm(1))
    assert outcome.action == "replied"
    assert [(s.target, s.reply.text) for s in channel.sent] == [("u1", "hello 1")]
    assert outcome.message_ids == ("out-1",)
    [turn] = agent.turns
    assert turn.session_key == "agent:main:main"
    assert (turn.sender_id, turn.chat_type, turn.message_id) == ("u1", ChatType.DIRECT, "u1-1")
    row = await store.fetchone("SELECT seq, status, message_ids FROM pipeline_deliveries")
    assert row is not None
    assert (row["seq"], row["status"], row["message_ids"]) == (0, "sent", '["out-1"]')


async def test_session_scope_shapes_the_session_key(store: Store) -> None:
    agent = ScriptedAgent()
    pipeline = make_pipeline(
        store, MemoryChannel(), agent, session=SessionOptions(dm_scope="per-channel-peer")
    )
    await pipeline.handle(dm(1, sender="U9"))
    assert agent.turns[0].session_key == "agent:main:zalo:direct:u9"


async def test_unknown_sender_gets_one_pairing_code_and_is_not_processed(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    pipeline = make_pipeline(store, channel, agent, AccountPolicy(channel="zalo"))
    first = await pipeline.handle(dm(1))
    second = await pipeline.handle(dm(2))
    assert (first.action, first.reason) == ("challenged", "pairing_code_sent")
    assert (second.action, second.reason) == ("challenged", "pairing_pending")
    assert agent.turns == []
    [challenge] = channel.texts
    assert "u1" in challenge
    assert "zalogate pairing approve zalo " in challenge


async def test_approved_sender_is_processed(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    pairing = SqlitePairingStore(store)
    await pairing.add_allowed("zalo", "default", "u1")
    pipeline = make_pipeline(store, channel, agent, AccountPolicy(channel="zalo"), pairing=pairing)
    assert (await pipeline.handle(dm(1))).action == "replied"
    assert channel.texts == ["hello 1"]


async def test_sender_outside_allowlist_is_dropped_silently(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    policy = AccountPolicy(channel="zalo", dm_policy="allowlist", allow_from=frozenset({"u2"}))
    outcome = await make_pipeline(store, channel, agent, policy).handle(dm(1))
    assert (outcome.action, outcome.reason) == ("dropped", "dm_policy_not_allowlisted")
    assert channel.sent == []
    assert agent.turns == []


async def test_skipped_group_messages_are_prepended_to_the_next_mention(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    policy = AccountPolicy(channel="zalouser", group_policy="open")
    zalouser = MemoryChannel(id="zalouser")
    pipeline = Pipeline(
        store=store,
        channels={"zalouser": zalouser},
        policy_for=lambda m: policy,
        agent=agent,
        accounts=lambda channel, account: ACCOUNT,
    )

    def on_zalouser(message: InboundMessage) -> InboundMessage:
        return message.model_copy(update={"channel": "zalouser"})

    skipped = await pipeline.handle(on_zalouser(group(1, "first unmentioned line")))
    assert skipped.action == "skipped"
    replied = await pipeline.handle(on_zalouser(group(2, "@bot hi", mentioned=True, name="Bob")))
    assert replied.action == "replied"
    body = agent.turns[0].body
    assert body.startswith(HISTORY_MARKER)
    assert "Alice: first unmentioned line" in body
    assert body.rstrip().endswith("Bob: @bot hi")
    assert agent.turns[0].was_mentioned
    assert [s.target for s in zalouser.sent] == ["group:g1"]
    await pipeline.handle(on_zalouser(group(3, "again", mentioned=True)))
    assert HISTORY_MARKER not in agent.turns[1].body
    assert channel.sent == []


async def test_group_route_without_mention_requirement_is_processed(store: Store) -> None:
    agent = ScriptedAgent()
    policy = AccountPolicy(
        channel="zalouser",
        group_policy="allowlist",
        groups={"g1": GroupRule(require_mention=False)},
        group_allow_from=frozenset({"*"}),
    )
    zalouser = MemoryChannel(id="zalouser")
    pipeline = Pipeline(
        store=store,
        channels={"zalouser": zalouser},
        policy_for=lambda m: policy,
        agent=agent,
        accounts={("zalouser", "default"): ACCOUNT},
    )
    message = group(1, "no mention").model_copy(update={"channel": "zalouser"})
    assert (await pipeline.handle(message)).action == "replied"
    other = message.model_copy(update={"chat_id": "g2", "message_id": "x"})
    assert (await pipeline.handle(other)).reason == "route_not_allowlisted"


async def test_control_command_in_group_needs_an_allowlist(store: Store) -> None:
    agent = ScriptedAgent()
    open_policy = AccountPolicy(channel="zalo", group_policy="open")
    pipeline = make_pipeline(store, MemoryChannel(), agent, open_policy)
    refused = await pipeline.handle(group(1, "/new", mentioned=True))
    assert (refused.action, refused.reason) == ("dropped", "command_unauthorized")
    allowed_policy = AccountPolicy(
        channel="zalo", group_policy="open", allow_from=frozenset({"u1"})
    )
    pipeline = make_pipeline(store, MemoryChannel(), agent, allowed_policy)
    assert (await pipeline.handle(group(2, "/new", mentioned=True))).action == "replied"


async def test_replies_are_prefixed_chunked_and_silent_ones_suppressed(store: Store) -> None:
    channel = MemoryChannel()
    agent = ScriptedAgent(
        [
            ReplyPayload(text="no_reply"),
            ReplyPayload(text="one two three four five", media_urls=("https://x.test/a.png",)),
            ReplyPayload(media_urls=("https://x.test/b.png",)),
        ]
    )
    policy = AccountPolicy(
        channel="zalo",
        dm_policy="open",
        allow_from=frozenset("*"),
        response_prefix="[bot]",
        text_chunk_limit=12,
    )
    await make_pipeline(store, channel, agent, policy).handle(dm(1))
    texts = channel.texts
    assert texts[0].startswith("[bot] ")
    assert all(len(t) <= 12 for t in texts)
    assert " ".join(texts[:-1]) == "[bot] one two three four five"
    assert [s.reply.media_urls for s in channel.sent] == [
        ("https://x.test/a.png",),
        *([()] * (len(texts) - 2)),
        ("https://x.test/b.png",),
    ]
    assert texts[-1] == ""


async def test_send_failure_propagates_and_is_recorded(store: Store) -> None:
    channel = MemoryChannel(failures=[DeliveryError("zalo 500", retryable=True)])
    pipeline = make_pipeline(store, channel, ScriptedAgent())
    with pytest.raises(DeliveryError):
        await pipeline.handle(dm(1))
    row = await store.fetchone("SELECT status, error FROM pipeline_deliveries")
    assert row is not None
    assert row["status"] == "failed"
    assert "zalo 500" in row["error"]


async def test_retry_through_the_inbox_does_not_resend_delivered_chunks(store: Store) -> None:
    channel = MemoryChannel()
    agent = ScriptedAgent([ReplyPayload(text="first"), ReplyPayload(text="second")])
    pipeline = make_pipeline(store, channel, agent)
    real_send = channel.send
    calls = 0

    async def flaky_send(
        account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("network down")
        return await real_send(account, target, reply)

    channel.send = flaky_send  # type: ignore[method-assign]
    inbox = Inbox(
        store,
        pipeline.process,
        config=InboxConfig(backoff=BackoffConfig(min_delay=0.001, max_delay=0.002)),
    )
    async with inbox:
        await inbox.admit(dm(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert channel.texts == ["first", "second"]
    assert len(agent.turns) == 2
    assert inbox.counters.retried == 1
    assert pipeline.counters.chunks_already_sent == 1


async def test_replay_after_a_stop_skips_chunks_already_delivered(tmp_path: Path) -> None:
    agent = ScriptedAgent([ReplyPayload(text="first"), ReplyPayload(text="second")])
    first_run = MemoryChannel()
    real_send = first_run.send

    async def hang_on_second(
        account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        if reply.text == "second":
            await asyncio.Event().wait()  # the process "dies" here
        return await real_send(account, target, reply)

    first_run.send = hang_on_second  # type: ignore[method-assign]
    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, make_pipeline(store, first_run, agent).process)
        await inbox.start()
        await inbox.admit(dm(1))
        while not first_run.sent:
            await asyncio.sleep(0.001)
        await inbox.stop(timeout=0.01)
    assert first_run.texts == ["first"]

    second_run = MemoryChannel()
    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        pipeline = make_pipeline(store, second_run, agent)
        async with Inbox(store, pipeline.process) as inbox:
            await asyncio.wait_for(inbox.wait_idle(), 10)
    assert second_run.texts == ["second"]
    assert pipeline.counters.chunks_already_sent == 1


async def test_partial_receipt_is_recorded_and_retried_without_repeating(store: Store) -> None:
    partial = DeliveryReceipt(message_ids=("m-1",), partial=True, error="caption overflow failed")
    channel = MemoryChannel(failures=[partial])
    agent = ScriptedAgent([ReplyPayload(text="a"), ReplyPayload(text="b")])
    pipeline = make_pipeline(store, channel, agent)
    inbox = Inbox(
        store,
        pipeline.process,
        config=InboxConfig(backoff=BackoffConfig(min_delay=0.001, max_delay=0.002)),
    )
    async with inbox:
        await inbox.admit(dm(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert channel.texts == ["b"]
    rows = await store.fetchall("SELECT seq, status, message_ids FROM pipeline_deliveries")
    assert [(r["seq"], r["status"], r["message_ids"]) for r in rows] == [
        (0, "partial", '["m-1"]'),
        (1, "sent", '["out-1"]'),
    ]


async def test_typing_is_shown_and_its_failures_ignored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)  # the agent answers at once
    channel = MemoryChannel(typing_error=RuntimeError("typing not allowed"))
    await make_pipeline(store, channel, ScriptedAgent()).handle(dm(1))
    assert channel.typing_calls == ["u1"]
    assert channel.texts == ["hello 1"]


async def test_explicit_typing_hook_is_preferred(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)
    seen: list[tuple[str, str]] = []

    async def on_typing(account: ChannelAccount, target: str) -> None:
        seen.append((account.account_id, target))

    channel = MemoryChannel()
    await make_pipeline(store, channel, ScriptedAgent(), on_typing=on_typing).handle(dm(1))
    assert seen == [("default", "u1")]
    assert channel.typing_calls == []


async def test_media_only_message_reaches_the_agent_as_a_placeholder(store: Store) -> None:
    agent = ScriptedAgent([])
    message = dm(1, text="").model_copy(update={"media": (MediaRef(kind="image"),)})
    await make_pipeline(store, MemoryChannel(), agent).handle(message)
    assert agent.turns[0].body == "<media:image>"


async def test_unknown_channel_is_not_retryable(store: Store) -> None:
    pipeline = make_pipeline(store, MemoryChannel(), ScriptedAgent())
    with pytest.raises(NonRetryableError):
        await pipeline.handle(dm(1).model_copy(update={"channel": "telegram"}))


async def test_message_of_an_unconfigured_account_is_not_retryable(store: Store) -> None:
    def no_policy(message: InboundMessage) -> AccountPolicy:
        raise LookupError(f"unknown account {message.account_id}")

    pipeline = Pipeline(
        store=store, channels={"zalo": MemoryChannel()}, policy_for=no_policy, agent=ScriptedAgent()
    )
    with pytest.raises(NonRetryableError):
        await pipeline.handle(dm(1))


def test_memory_channel_satisfies_the_channel_protocol() -> None:
    assert isinstance(MemoryChannel(), Channel)


@pytest.mark.parametrize(
    ("text", "silent"),
    [("NO_REPLY", True), ("  no_reply\n", True), ("NO_REPLY please", False), ("", False)],
)
def test_silent_token(text: str, silent: bool) -> None:
    assert is_silent(text) is silent


def test_response_prefix_rules() -> None:
    assert apply_response_prefix("hi", "[bot]") == "[bot] hi"
    assert apply_response_prefix("[bot] hi", "[bot]") == "[bot] hi"
    assert apply_response_prefix("hi", "") == "hi"
    assert apply_response_prefix("hi", "auto", identity="Zalo Bot") == "[Zalo Bot] hi"
    assert apply_response_prefix("hi", "auto") == "hi"
