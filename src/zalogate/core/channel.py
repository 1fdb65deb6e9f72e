"""The seam between the core and a channel, and how channels are discovered.

A channel package exposes a :class:`ChannelPlugin` under the entry-point group
``zalogate.channels``. The runtime calls ``plugin.create(context)`` once and then drives the
returned :class:`Channel`: one ``run`` task per enabled account (the monitor, which hands every
inbound message to ``context.inbox.admit``), ``send`` for replies, ``probe`` for status.
Optional capabilities (directory, login, reactions, agent tools) are separate protocols that a
channel may also implement; check them with ``isinstance``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload

if TYPE_CHECKING:
    from zalogate.core.agent import AgentTool
    from zalogate.store import Store

__all__ = [
    "ENTRY_POINT_GROUP",
    "ASGIApp",
    "Admission",
    "Admitter",
    "Channel",
    "ChannelAccount",
    "ChannelContext",
    "ChannelPlugin",
    "Directory",
    "DirectoryEntry",
    "Login",
    "ProbeResult",
    "Reactions",
    "RouteRegistrar",
    "ToolContext",
    "Tools",
]

ENTRY_POINT_GROUP = "zalogate.channels"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Admission:
    """The inbox's answer to ``admit``: durable once returned."""

    entry_id: int
    duplicate: bool = False
    """True when (channel, account, message id) was admitted before; nothing new was written."""


class Admitter(Protocol):
    """What a channel monitor needs from the inbox."""

    async def admit(self, message: InboundMessage) -> Admission:
        """Journal ``message`` durably (idempotent) and return after the commit."""
        ...


class RouteRegistrar(Protocol):
    """The gateway's HTTP server, as a channel sees it (for webhooks and hosted media)."""

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        """Serve ``app`` for requests whose path equals ``path`` or starts with ``path/``."""
        ...

    def unmount(self, path: str) -> None:
        """Stop serving ``path`` (no error if it is not mounted)."""
        ...


@dataclass(slots=True)
class ChannelContext:
    """Everything the runtime lends a channel."""

    config: Any
    """The validated root config (``zalogate.config.ZalogateConfig``)."""
    state_dir: Path
    store: Store
    inbox: Admitter
    routes: RouteRegistrar | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("zalogate.channels"))
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelAccount:
    """One configured account of a channel, as the runtime and the pipeline see it.

    ``settings`` is the channel's merged account config (top-level values overridden by
    ``accounts.<id>``); ``access`` is the channel-agnostic view the core policies read.
    """

    channel: str
    account_id: str
    enabled: bool
    settings: Any
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of ``Channel.probe``: no secrets in any field."""

    ok: bool
    detail: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    warnings: Sequence[str] = ()
    elapsed_ms: float | None = None


@runtime_checkable
class Channel(Protocol):
    """A Zalo channel: turns protocol events into inbound messages and replies into calls.

    Optional attributes the pipeline looks for (``getattr``): ``chunks_replies = True`` hands
    ``send`` each reply's whole text (the channel chunks it itself, e.g. after converting
    Markdown to native styles; ``zalogate.core.chunking`` helps), instead of one ``send`` per
    ``textChunkLimit`` chunk; ``async typing(account, target)`` shows "typing…".
    """

    id: str
    text_limit: int

    def accounts(self) -> Sequence[ChannelAccount]:
        """Every configured account (enabled or not), default account first."""
        ...

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Monitor ``account`` until ``stop`` is set; raise to be restarted with backoff."""
        ...

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        """Deliver ``reply`` to ``target`` (a chat id or a prefixed target string)."""
        ...

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        """Check the account's credentials against Zalo (bounded in time)."""
        ...


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A user or group known to a channel account."""

    id: str
    name: str | None = None
    kind: str = "user"
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Directory(Protocol):
    """Optional: who am I, who can I talk to, which groups am I in."""

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        """The account's own identity."""
        ...

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """Users the account knows."""
        ...

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """Groups the account is in."""
        ...


@runtime_checkable
class Login(Protocol):
    """Optional: interactive login and logout (zalouser QR)."""

    async def logout(self, account: ChannelAccount) -> bool:
        """Forget the account's saved credentials; True if there were any."""
        ...


@runtime_checkable
class Reactions(Protocol):
    """Optional: react to a message."""

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        """Add ``reaction`` to ``message_id`` in ``target``."""
        ...


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The conversation an agent tool is offered in, so actions can default their target to it.

    ``None`` is passed instead when there is no conversation (the MCP server).
    """

    channel: str
    account_id: str
    chat_id: str
    chat_type: ChatType
    sender_id: str | None = None
    message_id: str | None = None

    @property
    def is_group(self) -> bool:
        """True when the conversation is a group."""
        return self.chat_type is ChatType.GROUP

    @property
    def target(self) -> str:
        """The conversation as a send target: ``group:<id>`` for groups, else the chat id."""
        return f"group:{self.chat_id}" if self.is_group else self.chat_id

    @classmethod
    def from_message(cls, message: InboundMessage) -> ToolContext:
        """The context of the conversation ``message`` arrived in."""
        return cls(
            channel=message.channel,
            account_id=message.account_id,
            chat_id=message.chat_id,
            chat_type=message.chat_type,
            sender_id=message.sender_id,
            message_id=message.message_id,
        )


@runtime_checkable
class Tools(Protocol):
    """Optional: agent tools the channel offers (``zalo_send``, ``zalouser``).

    The gateway asks for every processed message (with that message's conversation); the
    MCP server asks once per account with ``context=None``. Return nothing for an account
    that cannot act (disabled, no credentials). Tool names must be stable.
    """

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """The tools bound to ``account`` (and to ``context``'s conversation, when given)."""
        ...


@dataclass(frozen=True, slots=True)
class ChannelPlugin:
    """What the ``zalogate.channels`` entry point loads."""

    id: str
    label: str
    create: Callable[[ChannelContext], Channel]
    description: str = ""
