"""Which agent answers a message: ``bindings[]`` matched most specific first (OpenClaw's order).

1. ``peer``: a binding naming this conversation (``direct`` + the user's id, or ``group`` +
   the group's id);
2. ``account``: a binding naming this account (``accountId`` written, not ``"*"``);
3. ``channel``: a binding for the whole channel, ``accountId: "*"``; a binding without
   ``accountId`` matches the channel's default account only (OpenClaw's rule);
4. the default agent.

Within a tier the first binding in config order wins. Every field a binding writes must
match. Bindings pick the agent only: access rules still decide who is answered.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from zalogate.config.accounts import normalize_account_id
from zalogate.core.agent import Agent, Turn
from zalogate.core.model import ChatType, InboundMessage, ReplyPayload

__all__ = ["AgentRouter", "Binding", "MatchTier", "Route", "resolve_route"]

log = logging.getLogger(__name__)

MatchTier = Literal["peer", "account", "channel", "default"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One ``bindings[]`` entry, normalised (ids lower-cased)."""

    agent_id: str
    channel: str
    account_id: str | None = None
    peer_kind: Literal["direct", "group"] | None = None
    peer_id: str | None = None

    @property
    def tier(self) -> MatchTier:
        """How specific the binding is."""
        if self.peer_id is not None:
            return "peer"
        if self.account_id is not None and self.account_id != "*":
            return "account"
        return "channel"

    def to_json(self) -> dict[str, Any]:
        """OpenClaw's shape (``{agentId, match: {channel, accountId?, peer?}}``)."""
        match: dict[str, Any] = {"channel": self.channel}
        if self.account_id is not None:
            match["accountId"] = self.account_id
        if self.peer_id is not None:
            match["peer"] = {"kind": self.peer_kind, "id": self.peer_id}
        return {"agentId": self.agent_id, "match": match}

    @classmethod
    def from_config(cls, binding: Any) -> Binding:
        """From a ``BindingConfig``."""
        match = binding.match
        account = match.account_id
        peer = match.peer
        return cls(
            agent_id=binding.agent_id.lower(),
            channel=match.channel.strip().lower(),
            account_id=None
            if account is None
            else ("*" if account.strip() == "*" else normalize_account_id(account)),
            peer_kind=None if peer is None else peer.kind,
            peer_id=None if peer is None else peer.id.strip(),
        )


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen agent and why."""

    agent_id: str
    matched_by: MatchTier
    binding: int | None = None
    """Index of the binding in ``bindings[]`` (None for the default agent)."""


_TIERS: tuple[MatchTier, ...] = ("peer", "account", "channel")


def resolve_route(
    bindings: Sequence[Binding],
    *,
    channel: str,
    account_id: str,
    is_group: bool,
    chat_id: str,
    default_account_id: str,
    default_agent_id: str,
) -> Route:
    """The agent for a conversation (see the module docstring for the order)."""
    channel = channel.strip().lower()
    account = normalize_account_id(account_id)
    kind = "group" if is_group else "direct"
    best: tuple[int, int] | None = None
    for index, binding in enumerate(bindings):
        if binding.channel != channel:
            continue
        wanted = binding.account_id
        if wanted is None:
            if account != normalize_account_id(default_account_id):
                continue
        elif wanted not in ("*", account):
            continue
        if binding.peer_id is not None and (
            binding.peer_kind != kind or binding.peer_id.lower() != chat_id.strip().lower()
        ):
            continue
        rank = _TIERS.index(binding.tier)
        if best is None or rank < best[0]:
            best = (rank, index)
    if best is None:
        return Route(default_agent_id, "default")
    rank, index = best
    return Route(bindings[index].agent_id, _TIERS[rank], index)


class AgentRouter:
    """Several agents behind one: picks the agent of each message by the bindings.

    It is an agent itself (``respond`` routes the turn), so anything that holds "the agent"
    keeps working; the pipeline calls :meth:`select` to put the agent id in the session key.

    Args:
        agents: Agents by id (lower-case).
        default_id: The default agent's id.
        bindings: The normalised bindings, in config order.
        default_account: The default account id of a channel.
        tools: Per-agent tool filter ``(agent id, tool name) -> offered?``.
    """

    def __init__(
        self,
        agents: Mapping[str, Agent],
        default_id: str,
        bindings: Sequence[Binding] = (),
        *,
        default_account: Callable[[str], str] = lambda _channel: "default",
        tools: Callable[[str, str], bool] | None = None,
    ) -> None:
        if default_id not in agents:
            raise ValueError(f"no default agent {default_id!r}")
        self.agents = dict(agents)
        self.default_id = default_id
        self.bindings = tuple(bindings)
        self._default_account = default_account
        self._default_accounts: dict[str, str] = {}
        self._tools = tools

    @property
    def default(self) -> Agent:
        """The default agent."""
        return self.agents[self.default_id]

    @property
    def kind(self) -> str | None:
        """``echo`` when every agent is the echo agent (the gateway warns then)."""
        from zalogate.agents.echo import EchoAgent

        return "echo" if all(isinstance(a, EchoAgent) for a in self.agents.values()) else None

    def route(self, channel: str, account_id: str, chat_type: ChatType, chat_id: str) -> Route:
        """The route of one conversation."""
        if not self.bindings:
            return Route(self.default_id, "default")  # the common case: skip the work
        default_account = self._default_accounts.get(channel)
        if default_account is None:  # the config does not change while the gateway runs
            default_account = self._default_accounts[channel] = self._default_account(channel)
        return resolve_route(
            self.bindings,
            channel=channel,
            account_id=account_id,
            is_group=chat_type is ChatType.GROUP,
            chat_id=chat_id,
            default_account_id=default_account,
            default_agent_id=self.default_id,
        )

    def select(self, message: InboundMessage) -> tuple[str, Agent]:
        """``(agent id, agent)`` for ``message`` (the pipeline's agent selector)."""
        route = self.route(message.channel, message.account_id, message.chat_type, message.chat_id)
        agent = self.agents.get(route.agent_id)
        if agent is None:  # validation prevents it; a stand-in config might not
            log.warning("binding names unknown agent %r; using the default", route.agent_id)
            return self.default_id, self.default
        return route.agent_id, agent

    def offers_tool(self, agent_id: str, tool: str) -> bool:
        """Whether ``agent_id`` is offered the tool named ``tool``."""
        return True if self._tools is None else self._tools(agent_id, tool)

    def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """Route ``turn`` and let its agent answer."""
        route = self.route(turn.channel, turn.account_id, turn.chat_type, turn.chat_id)
        return self.agents.get(route.agent_id, self.default).respond(turn)

    async def aclose(self) -> None:
        """Close every agent that has an ``aclose`` method."""
        for agent in self.agents.values():
            close = getattr(agent, "aclose", None)  # an optional method of agent backends
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
