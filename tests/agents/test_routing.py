"""Bindings pick the agent, most specific first: peer, account, channel ("*" or the default
account), then the default agent; the agent id is part of the session key."""

from __future__ import annotations

from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.agents.factory import agent_sections, build_agents
from zalogate.agents.routing import AgentRouter, Binding, resolve_route
from zalogate.config import parse_config
from zalogate.core.model import ChatType, InboundMessage


def route(bindings: list[Binding], account: str = "default", **where: Any) -> tuple[str, str]:
    found = resolve_route(
        bindings,
        channel=where.get("channel", "zalo"),
        account_id=account,
        is_group=where.get("group", False),
        chat_id=where.get("chat", "u1"),
        default_account_id=where.get("default_account", "default"),
        default_agent_id="main",
    )
    return found.agent_id, found.matched_by


def test_no_binding_means_the_default_agent() -> None:
    assert route([]) == ("main", "default")


def test_peer_beats_account_beats_channel_whatever_the_order() -> None:
    bindings = [
        Binding("wide", "zalo", "*"),
        Binding("shop", "zalo", "shop"),
        Binding("vip", "zalo", "*", "direct", "u1"),
    ]
    assert route(bindings, "shop", chat="u1") == ("vip", "peer")
    assert route(bindings, "shop", chat="u2") == ("shop", "account")
    assert route(bindings, "other", chat="u2") == ("wide", "channel")
    assert route(bindings, channel="zalouser") == ("main", "default")


def test_first_binding_wins_within_a_tier() -> None:
    bindings = [Binding("first", "zalo", "*"), Binding("second", "zalo", "*")]
    assert route(bindings) == ("first", "channel")


def test_a_binding_without_account_matches_only_the_default_account() -> None:
    bindings = [Binding("sales", "zalo")]
    assert route(bindings, "shop", default_account="shop") == ("sales", "channel")
    assert route(bindings, "other", default_account="shop") == ("main", "default")


def test_a_peer_binding_names_its_kind_and_conversation() -> None:
    bindings = [Binding("team", "zalo", "*", "group", "g1")]
    assert route(bindings, group=True, chat="G1") == ("team", "peer")
    assert route(bindings, group=False, chat="g1") == ("main", "default")
    # Without accountId the peer binding holds for the default account only (OpenClaw's rule).
    only_default = [Binding("team", "zalo", None, "group", "g1")]
    assert route(only_default, "other", group=True, chat="g1") == ("main", "default")


def test_account_ids_are_normalised_like_the_channels_do() -> None:
    [binding] = parse_config(
        {
            "agents": {"list": [{"id": "Shop"}]},
            "bindings": [{"agentId": "Shop", "match": {"channel": "Zalo", "accountId": "My Shop"}}],
        },
        env={},
    ).bindings
    normalised = Binding.from_config(binding)
    assert (normalised.agent_id, normalised.channel, normalised.account_id) == (
        "shop",
        "zalo",
        "my-shop",
    )
    assert route([normalised], "my-shop") == ("shop", "account")


def message(account: str, chat: str = "u1") -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id=account,
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        message_id="m1",
        timestamp_ms=1,
        text="hi",
    )


def test_the_router_selects_the_agent_and_the_default_account_from_the_config() -> None:
    config = parse_config(
        {
            "agents": {"list": [{"id": "sales"}, {"id": "support", "default": True}]},
            "bindings": [{"agentId": "sales", "match": {"channel": "zalo"}}],
            "channels": {"zalo": {"defaultAccount": "shop", "accounts": {"shop": {}, "help": {}}}},
        },
        env={},
    )
    router = build_agents(config)
    assert router.default_id == "support"
    assert router.select(message("shop"))[0] == "sales"
    assert router.select(message("help"))[0] == "support"


@pytest.mark.parametrize(
    ("data", "ids", "default"),
    [
        ({}, ["main"], "main"),
        ({"agents": {"list": [{"id": "a"}, {"id": "b"}]}}, ["a", "b"], "a"),
        ({"agents": {"list": [{"id": "a"}, {"id": "b", "default": True}]}}, ["a", "b"], "b"),
        # The single agent block stays valid and is the default agent...
        ({"agent": {"type": "echo"}, "agents": {"list": [{"id": "a"}]}}, ["main", "a"], "main"),
        # ...unless an entry says it is.
        (
            {"agent": {"type": "echo"}, "agents": {"list": [{"id": "a", "default": True}]}},
            ["main", "a"],
            "a",
        ),
    ],
)
def test_which_agents_exist_and_which_is_the_default(
    data: dict[str, Any], ids: list[str], default: str
) -> None:
    sections, default_id = agent_sections(parse_config(data, env={}))
    assert [agent_id for agent_id, _ in sections] == ids
    assert default_id == default


def test_tools_are_filtered_per_agent() -> None:
    config = parse_config(
        {
            "agents": {
                "list": [
                    {"id": "a", "tools": {"allow": ["schedule"]}},
                    {"id": "b", "tools": {"deny": ["schedule"]}},
                ]
            }
        },
        env={},
    )
    router = build_agents(config)
    assert router.offers_tool("a", "schedule")
    assert not router.offers_tool("a", "zalouser")
    assert not router.offers_tool("b", "schedule")
    assert router.offers_tool("b", "zalouser")


def test_the_router_is_an_echo_agent_only_when_every_agent_is() -> None:
    assert AgentRouter({"main": EchoAgent()}, "main").kind == "echo"
