"""A third-party channel, built only on the public contract (``loopback.py``), gets every
behaviour of the built-in ones from the real gateway and pipeline: pairing, group policy
and mention gating with pending history, chunking at its own limit, typing, its agent tool,
its traits (prefixes in allowlists and targets, its pairing label), restart with its reset
hook, and failures classified by its error's kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from itertools import count
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest

from zalogate.backoff import BackoffConfig
from zalogate.core.agent import Turn
from zalogate.core.ingress import Inbox
from zalogate.core.model import ReplyPayload
from zalogate.core.pairing import SqlitePairingStore
from zalogate.core.targets import parse_target
from zalogate.core.traits import traits_for
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.status import AccountState

from .loopback import CHANNEL_ID, TEXT_LIMIT, LoopbackChannel, plugin

TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)
_ids = count(1)


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


class ScriptedAgent:
    """Echoes (``echo: <body>``), or answers with ``reply``; can call the first tool it is
    offered; can think for ``delay`` seconds first."""

    def __init__(
        self,
        reply: str | None = None,
        *,
        use_tool: bool = False,
        delay: float = 0.0,
        quote: bool = False,
    ):
        self.reply = reply
        self.use_tool = use_tool
        self.delay = delay
        self.quote = quote
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.use_tool and turn.tools:
            result = await turn.tools[0].call({"text": turn.text})
            yield ReplyPayload(text=f"tool said {result['ok']}")
            return
        text = self.reply if self.reply is not None else f"echo: {turn.text}"
        yield ReplyPayload(text=text, reply_to_id=turn.message_id if self.quote else None)


class World:
    """A gateway running the example channel, and a user who talks to it over HTTP."""

    def __init__(self, gateway: Gateway, made: list[LoopbackChannel]) -> None:
        self.gateway = gateway
        self._made = made

    @property
    def channel(self) -> LoopbackChannel:
        return self._made[0]

    async def say(self, sender: str, text: str, **extra: Any) -> httpx2.Response:
        update = {"id": f"in-{next(_ids)}", "from": sender, "text": text, **extra}
        async with httpx2.AsyncClient(base_url=self.gateway.url) as client:
            return await client.post("/example/a", json=update)

    async def replies(self, target: str, n: int) -> list[str]:
        """The first ``n`` messages sent to ``target`` (waits for them)."""
        await until(lambda: len(self.sent_to(target)) >= n)
        return self.sent_to(target)[:n]

    def sent_to(self, target: str) -> list[str]:
        return [s.text for s in self.channel.outbox if s.target == target]

    def state(self) -> AccountState:
        record = self.gateway.status_board.get(CHANNEL_ID, "a")
        assert record is not None
        return record.state


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def run_world(
    tmp_path: Path, agent: ScriptedAgent, settings: Mapping[str, Any] | None = None
) -> tuple[Gateway, list[LoopbackChannel]]:
    made: list[LoopbackChannel] = []
    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[plugin({"a": dict(settings or {})}, made)],
        agent=agent,
        backoff=TINY,
        unauthorized_backoff=TINY,
        startup_grace=0.05,
        configure_logs=False,
    )
    return gateway, made


async def started(gateway: Gateway, made: list[LoopbackChannel]) -> World:
    world = World(gateway, made)
    await until(lambda: bool(made) and world.state() is AccountState.RUNNING)
    return world


@pytest.mark.timeout(30)
async def test_an_unknown_sender_pairs_and_is_answered_after_approval(tmp_path: Path) -> None:
    agent = ScriptedAgent()
    gateway, made = run_world(tmp_path, agent)
    async with gateway:
        world = await started(gateway, made)
        assert (await world.say("u1", "hello")).status_code == 200
        [challenge] = await world.replies("u1", 1)
        assert gateway.store is not None
        pairing = SqlitePairingStore(gateway.store)
        [request] = await pairing.list_pending(CHANNEL_ID, "a")
        assert request.code in challenge
        assert agent.turns == []
        await pairing.approve(CHANNEL_ID, request.code)
        await world.say("u1", "hi again")
        assert (await world.replies("u1", 2))[1] == "echo: hi again"
    assert world.channel.closed  # the gateway closed it through the aclose hook


@pytest.mark.timeout(30)
async def test_allowlist_entries_take_the_channels_own_prefixes(tmp_path: Path) -> None:
    agent = ScriptedAgent()
    settings = {"dmPolicy": "allowlist", "allowFrom": ["ex:U2", "example:u3"]}
    gateway, made = run_world(tmp_path, agent, settings)
    async with gateway:
        world = await started(gateway, made)
        for sender in ("u1", "u2", "u3"):
            await world.say(sender, f"from {sender}")
        await world.replies("u3", 1)
        await world.replies("u2", 1)
    assert world.sent_to("u1") == []  # not in the list: dropped, no pairing under allowlist
    assert sorted(t.sender_id for t in agent.turns) == ["u2", "u3"]


@pytest.mark.timeout(30)
async def test_group_messages_wait_for_a_mention_and_carry_the_history(tmp_path: Path) -> None:
    agent = ScriptedAgent(reply="ok")
    gateway, made = run_world(tmp_path, agent, {"groupPolicy": "open"})
    async with gateway:
        world = await started(gateway, made)
        await world.say("u1", "first, no mention", room="r1")
        await world.say("u2", "second, no mention", room="r1")
        await world.say("u1", "now you", room="r1", mention=True)
        assert await world.replies("group:r1", 1) == ["ok"]
    [turn] = agent.turns
    assert turn.was_mentioned
    assert [entry.body for entry in turn.history] == ["first, no mention", "second, no mention"]
    assert "first, no mention" in turn.body


@pytest.mark.timeout(30)
async def test_replies_are_chunked_at_the_channels_limit(tmp_path: Path) -> None:
    words = " ".join(f"word{i}" for i in range(30))
    agent = ScriptedAgent(reply=words)
    gateway, made = run_world(tmp_path, agent, {"dmPolicy": "open", "allowFrom": ["*"]})
    async with gateway:
        world = await started(gateway, made)
        await world.say("u1", "long please")
        await until(lambda: " ".join(world.sent_to("u1")) == words)
    chunks = world.sent_to("u1")
    assert len(chunks) > 1
    assert all(len(chunk) <= TEXT_LIMIT for chunk in chunks)


@pytest.mark.timeout(30)
async def test_a_chunked_reply_quotes_the_users_message_on_its_first_chunk(
    tmp_path: Path,
) -> None:
    words = " ".join(f"word{i}" for i in range(30))
    agent = ScriptedAgent(reply=words, quote=True)
    gateway, made = run_world(tmp_path, agent, {"dmPolicy": "open", "allowFrom": ["*"]})
    async with gateway:
        world = await started(gateway, made)
        await world.say("u1", "long please")
        await until(lambda: " ".join(world.sent_to("u1")) == words)
    quotes = [sent.reply_to for sent in world.channel.outbox if sent.target == "u1"]
    assert quotes[0] == agent.turns[0].message_id
    assert len(quotes) > 1
    assert set(quotes[1:]) == {None}


@pytest.mark.timeout(30)
async def test_typing_shows_while_the_agent_thinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zalogate.core import presence

    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)
    agent = ScriptedAgent(reply="done", delay=0.2)
    gateway, made = run_world(tmp_path, agent, {"dmPolicy": "open", "allowFrom": ["*"]})
    async with gateway:
        world = await started(gateway, made)
        await world.say("u1", "think")
        await world.replies("u1", 1)
    assert world.channel.typing_calls[0] == "u1"


@pytest.mark.timeout(30)
async def test_the_agent_uses_the_channels_tool_in_the_conversation(tmp_path: Path) -> None:
    agent = ScriptedAgent(use_tool=True)
    gateway, made = run_world(tmp_path, agent, {"dmPolicy": "open", "allowFrom": ["*"]})
    async with gateway:
        world = await started(gateway, made)
        await world.say("u1", "shout this")
        assert await world.replies("u1", 2) == ["SHOUT THIS", "tool said True"]
    assert [tool.name for tool in agent.turns[0].tools] == ["example_shout"]


@pytest.mark.timeout(30)
async def test_restart_resets_the_account_and_runs_it_again(tmp_path: Path) -> None:
    gateway, made = run_world(tmp_path, ScriptedAgent(), {"dmPolicy": "open", "allowFrom": ["*"]})
    async with gateway:
        world = await started(gateway, made)
        status = await gateway.restart_account(CHANNEL_ID, "a")
        assert status.state is AccountState.RUNNING
        assert world.channel.resets == ["a"]
        assert world.channel.runs["a"] == 2
        await world.say("u1", "still there?")  # the webhook was mounted again
        assert await world.replies("u1", 1) == ["echo: still there?"]


@pytest.mark.timeout(30)
async def test_an_unauthorized_failure_is_classified_by_the_errors_kind(tmp_path: Path) -> None:
    gateway, made = run_world(tmp_path, ScriptedAgent())
    async with gateway:
        world = World(gateway, made)
        await until(lambda: bool(made))
        world.channel.revoked.add("a")
        await gateway.restart_account(CHANNEL_ID, "a")
        await until(lambda: world.state() is AccountState.UNAUTHORIZED)
        world.channel.revoked.clear()
        await until(lambda: world.state() is AccountState.RUNNING)


@pytest.mark.timeout(30)
async def test_a_control_send_and_the_directory_go_through_the_capabilities(
    tmp_path: Path,
) -> None:
    from zalogate.runtime.control import MessageRequest

    gateway, made = run_world(tmp_path, ScriptedAgent())
    async with gateway:
        world = await started(gateway, made)
        account_id, receipt = await gateway.send_message(
            CHANNEL_ID, "a", MessageRequest(target="ex:room:r9", text="hello room")
        )
        assert account_id == "a"
        assert receipt.message_ids
        assert world.sent_to("group:r9") == ["hello room"]
        directory = world.channel.directory
        [account] = world.channel.accounts()
        assert (await directory.directory_self(account)).id == "bot-a"


def test_the_core_reads_the_declared_traits() -> None:
    made: list[LoopbackChannel] = []
    plugin({"a": {}}, made)  # declaring is not registering: the gateway or discovery does
    from zalogate.core.traits import register_traits

    from .loopback import TRAITS

    register_traits(TRAITS)
    assert traits_for(CHANNEL_ID).pairing_id_label == "exampleUserId"
    target = parse_target("ex:room:r1", CHANNEL_ID)
    assert (target.kind, target.id) == ("group", "r1")
    assert parse_target("g-5", CHANNEL_ID).kind == "user"  # no raw g-/u- markers here


@pytest.mark.timeout(30)
async def test_the_consoles_allowlist_edits_apply_without_a_restart(tmp_path: Path) -> None:
    agent = ScriptedAgent()
    settings = {"dmPolicy": "allowlist", "allowFrom": ["u2"]}
    gateway, made = run_world(tmp_path, agent, settings)
    async with gateway:
        world = await started(gateway, made)
        await world.say("u2", "first")
        await world.replies("u2", 1)  # the runtime has built (and cached) the policy
        access = gateway.access
        assert access is not None
        await access.allow(CHANNEL_ID, "a", "allowFrom", "ex:u1")
        await access.block(CHANNEL_ID, "a", "allowFrom", "u2")
        await world.say("u1", "now allowed")
        await world.replies("u1", 1)
        await world.say("u2", "now removed")
        inbox = gateway.inbox
        assert isinstance(inbox, Inbox)
        await until(lambda: inbox.counters.processed == 3)  # dropped before the restore
        await access.forget(CHANNEL_ID, "a", "allowFrom", "u2")
        await world.say("u2", "restored")
        await world.replies("u2", 2)
    assert [t.text for t in agent.turns] == ["first", "now allowed", "restored"]
