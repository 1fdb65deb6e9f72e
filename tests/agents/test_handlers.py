"""Python handlers: filters, replies, reactions through the channel's capability, fall-through
to the configured agent, and the example bot in ``examples/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.agents.services import AgentServices
from zalogate.core.agent import Turn
from zalogate.core.channel import Channel, ChannelAccount
from zalogate.core.model import ChatType, ReplyPayload
from zalogate.handlers import HandlerAgent, HandlerError, Message, Router, load_router

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def texts(agent: HandlerAgent, turn: Turn) -> list[str]:
    return [p.text async for p in agent.respond(turn)]


async def test_filters_pick_the_first_matching_handler(make_turn: Callable[..., Turn]) -> None:
    router = Router()
    seen: list[str] = []

    @router.message(command="/start", chat="direct")
    async def start(msg: Message) -> None:
        seen.append("start")
        await msg.reply("welcome")

    @router.message(lambda m: m.sender_id == "vip", channel="zalo")
    async def vip(msg: Message) -> None:
        await msg.reply("hello VIP")
        await msg.reply("second line")

    @router.message(regex=r"\d{3}")
    async def digits(msg: Message) -> None:
        await msg.answer("digits")

    agent = HandlerAgent(router)
    assert await texts(agent, make_turn("/start now")) == ["welcome"]
    assert await texts(agent, make_turn("/start", chat_type=ChatType.GROUP)) == []
    assert await texts(agent, make_turn("hi", sender_id="vip")) == ["hello VIP", "second line"]
    assert await texts(agent, make_turn("hi", sender_id="vip", channel="zalouser")) == []
    assert await texts(agent, make_turn("code 123")) == ["digits"]
    assert seen == ["start"]


async def test_a_message_no_handler_takes_falls_through_to_the_agent(
    make_turn: Callable[..., Turn],
) -> None:
    router = Router()

    @router.message(text="ping")
    async def ping(msg: Message) -> None:
        await msg.reply("pong")

    @router.message(startswith="maybe")
    async def maybe(msg: Message) -> bool:
        return False  # looked, declined

    agent = HandlerAgent(router, fallback=EchoAgent())
    assert await texts(agent, make_turn(" PING ")) == ["pong"]
    assert await texts(agent, make_turn("maybe later")) == ["maybe later"]
    assert await texts(agent, make_turn("other")) == ["other"]


class ReactingChannel(Channel):
    """Just enough channel for ``react``: one account and the reactions capability."""

    id = "zalo"

    def __init__(self) -> None:
        self.reacted: list[tuple[str, str, str]] = []
        self._account = ChannelAccount("zalo", "default", True, {})

    def accounts(self) -> list[ChannelAccount]:
        return [self._account]

    async def run(self, account: ChannelAccount, stop: Any) -> None:
        raise NotImplementedError

    async def send(self, account: ChannelAccount, target: str, payload: ReplyPayload) -> Any:
        raise NotImplementedError

    async def probe(self, account: ChannelAccount) -> Any:
        raise NotImplementedError

    @property
    def reactions(self) -> ReactingChannel:
        return self

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        self.reacted.append((target, message_id, reaction))


async def test_react_goes_through_the_channels_reactions_capability(
    make_turn: Callable[..., Turn], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    router = load_router("handlers_bot:router")
    channel = ReactingChannel()
    agent = HandlerAgent(router, services=AgentServices(channels={"zalo": channel}))
    group = {"chat_type": ChatType.GROUP, "chat_id": "g1", "message_id": "m9"}
    assert await texts(agent, make_turn("cảm ơn nhé", was_mentioned=True, **group)) == []
    assert channel.reacted == [("group:g1", "m9", "heart")]
    # Without the capability the handler gets a clear error.
    bare = HandlerAgent(router)
    with pytest.raises(HandlerError, match="cannot react"):
        await texts(bare, make_turn("cảm ơn", was_mentioned=True, **group))


async def test_the_example_bot(
    make_turn: Callable[..., Turn], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    agent = HandlerAgent(load_router("handlers_bot:router"), fallback=EchoAgent())
    assert await texts(agent, make_turn("/start", sender_name="Lan")) == [
        "Xin chào Lan! Gõ /menu để xem thực đơn, hoặc hỏi giá một món."
    ]
    assert (await texts(agent, make_turn("/menu")))[0].startswith("Thực đơn:\n- cà phê: 25.000đ")
    assert await texts(agent, make_turn("giá trà sữa?")) == ["Trà sữa giá 35.000đ."]
    # An unknown item falls through to the agent (echo here).
    assert await texts(agent, make_turn("giá pizza?")) == ["giá pizza?"]
    assert await texts(agent, make_turn("chat", chat_type=ChatType.GROUP)) == ["chat"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "expected module:router"),
        ("zalogate_no_such_module:router", "cannot import"),
        ("zalogate.handlers:Message", "is not a zalogate.handlers.Router"),
    ],
)
def test_a_bad_app_spec_is_one_clear_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_router(spec)
