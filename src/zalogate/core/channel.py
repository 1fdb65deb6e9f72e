"""The seam between the core and a channel, and how channels are discovered.

A channel package exposes a :class:`ChannelPlugin` under the entry-point group
``zalogate.channels``. The runtime calls ``plugin.create(context)`` once and then drives the
returned :class:`Channel`: one ``run`` task per enabled account (the monitor, which hands every
inbound message to ``context.inbox.admit``), ``send`` for replies, ``probe`` for status.

:class:`Channel` is the whole contract: four abstract members, typed hooks with do-nothing
defaults (``policy``, ``prepare_inbound``, ``agent_tools``, ``account_snapshot``, ...), and
optional capabilities as properties that return an object implementing a small protocol
(:class:`Presence`, :class:`Directory`, :class:`GroupMembers`, :class:`UserProfiles`,
:class:`Login`, :class:`Reactions`, :class:`LinkSender`, :class:`Stickers`,
:class:`ReadReceipts`) or ``None``.
Nothing above a channel looks a capability up by name. What a channel declares about itself
without being built (target prefixes, session rules, labels) is its
:class:`~zalogate.core.traits.ChannelTraits`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from zalogate.core.access_overlay import EMPTY_OVERLAY, AccessOverlay
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.traits import ChannelTraits, traits_for

if TYPE_CHECKING:
    from zalogate.core.access import AccountPolicy
    from zalogate.core.agent import AgentTool
    from zalogate.core.inspection import ConfigInspector
    from zalogate.core.shared_state import SharedState
    from zalogate.oa.tokens import TokenStores
    from zalogate.store import Store

__all__ = [
    "ENTRY_POINT_GROUP",
    "ASGIApp",
    "AccountCounter",
    "Admission",
    "Admitter",
    "Channel",
    "ChannelAccount",
    "ChannelContext",
    "ChannelPlugin",
    "ChannelTraits",
    "Directory",
    "DirectoryEntry",
    "GroupMembers",
    "LinkSender",
    "Login",
    "LoginUI",
    "Presence",
    "ProbeResult",
    "Reactions",
    "ReadReceipts",
    "ReplyContexts",
    "RouteRegistrar",
    "SessionImport",
    "Stickers",
    "ToolContext",
    "UserProfiles",
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
    register_secret: Callable[[str], None] = lambda _secret: None
    """Hide a secret the channel learned at run time (a refreshed token) from every log line
    (the gateway's log redaction; a no-op outside the gateway)."""
    health: Callable[[str, str | None], None] = field(default=lambda account_id, error: None)
    """``health(account_id, error)``: a running monitor reports a failure it retries itself
    (a failed poll: the account shows ``degraded`` with the error) or, with None, that it
    works again."""
    access_overlay: Callable[[str], AccessOverlay] = field(default=lambda account_id: EMPTY_OVERLAY)
    """``access_overlay(account_id)``: the console's allowlist edits of that account; a channel
    that builds its own policy passes them to ``policy_from_settings(..., overlay=...)``."""
    reconnected: Callable[[str], None] = field(default=lambda account_id: None)
    """``reconnected(account_id)``: a running monitor re-established its connection by itself
    (a websocket listener after a drop); counted per account in status and metrics."""
    shared: SharedState | None = None
    """The state every node agrees on, as the runtime picked it; see :meth:`shared_state`."""
    token_stores: TokenStores | None = None
    """Where OAuth grants live when every node must use the same one (cluster mode); None:
    the channel keeps them in its own files under :attr:`state_dir`."""

    def shared_state(self) -> SharedState:
        """Allow store, pairing, takeover and group history: the runtime's, or the SQLite
        ones on :attr:`store` (a channel built outside a gateway)."""
        if self.shared is not None:
            return self.shared
        from zalogate.core.shared_state import local_state

        return local_state(self.store)


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
class AccountCounter:
    """One number a channel keeps per account, for ``/metrics``.

    ``name`` is lower-case ``[a-z0-9_]`` (served as ``zalogate_channel_<name>_total`` for a
    ``counter``, which only grows while the gateway runs, or ``zalogate_channel_<name>`` for a
    ``gauge``), labelled with the channel and the account.
    """

    name: str
    value: float
    kind: Literal["counter", "gauge"] = "counter"
    help: str = ""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of ``Channel.probe``: no secrets in any field."""

    ok: bool
    detail: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    warnings: Sequence[str] = ()
    elapsed_ms: float | None = None


class Channel(abc.ABC):
    """A Zalo channel: turns protocol events into inbound messages and replies into calls.

    Subclass it and implement the four abstract members. Every other member is an optional
    hook with a do-nothing default, or a capability property that is ``None`` until the
    channel offers it; the pipeline, the runtime, the CLI and the MCP server call them
    directly, so a third-party channel gets every behaviour the built-in ones get.

    Attributes:
        id: The channel id (``zalo``); the plugin's id.
        text_limit: Zalo's limit for one text message (characters).
        chunks_replies: True hands :meth:`send` each reply's whole text (the channel chunks
            it itself, e.g. after turning Markdown into native styles; ``core.chunking``
            helps) instead of one ``send`` per ``textChunkLimit`` chunk.
    """

    id: str
    text_limit: int
    chunks_replies: bool = False

    # -- required -----------------------------------------------------------------------

    @abc.abstractmethod
    def accounts(self) -> Sequence[ChannelAccount]:
        """Every configured account (enabled or not), default account first."""

    @abc.abstractmethod
    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Monitor ``account`` until ``stop`` is set; raise to be restarted with backoff.

        Raise a :class:`~zalogate.core.errors.ChannelError` whose ``kind`` says whether a
        restart can help (``UNAUTHORIZED`` is retried slowly, ``FATAL`` not at all).
        """

    @abc.abstractmethod
    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        """Deliver ``reply`` to ``target`` (a chat id or a prefixed target string).

        Raise :class:`~zalogate.core.errors.DeliveryError` when (part of) it did not go out.
        """

    @abc.abstractmethod
    async def probe(self, account: ChannelAccount) -> ProbeResult:
        """Check the account's credentials against Zalo (bounded in time)."""

    # -- optional hooks (defaults do nothing) -----------------------------------------------

    def account(self, account_id: str) -> ChannelAccount | None:
        """The configured account ``account_id``, or None."""
        return next((a for a in self.accounts() if a.account_id == account_id), None)

    def policy(self, account: ChannelAccount) -> AccountPolicy | None:
        """The account's access policy when the channel builds its own, else None.

        None lets the runtime build it from ``account.settings`` and cache it; a channel that
        returns one is asked for every message (its policy may change while it runs).
        """
        return None

    def access_changed(self, account: ChannelAccount) -> None:
        """The console changed ``account``'s allowlists (``context.access_overlay``): drop
        what the channel cached from them (its policy); the next message sees the change."""
        return

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        """Finish an admitted message once access control let it through (e.g. download
        its attachments: an unauthorised sender never makes the gateway fetch anything).

        None means the channel answered the message itself (a notice for a kind the agent
        cannot use): no agent turn starts."""
        return message

    async def prepare_inbound_via(
        self, via: Channel, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        """:meth:`prepare_inbound` whose sends (a notice) and ``receipts`` go through ``via``
        (see :meth:`agent_tools_via`). Default: :meth:`prepare_inbound`."""
        return await self.prepare_inbound(account, message)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """Agent tools bound to ``account`` (and to ``context``'s conversation, when given).

        The gateway asks for every processed message; the MCP server asks once per account
        with ``context=None``. Return nothing for an account that cannot act. Tool names
        must be stable.
        """
        return ()

    def agent_tools_via(
        self, via: Channel, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """:meth:`agent_tools` whose actions act through ``via``: its ``send`` and capabilities.

        ``via`` wraps this channel (cluster mode's, which does them on the node holding the
        account's session). Default: :meth:`agent_tools` (the tools act through this channel).
        """
        return self.agent_tools(account, context)

    def account_snapshot(self, account: ChannelAccount) -> Mapping[str, Any]:
        """Display-safe config facts for ``channels status``, without any network.

        camelCase keys: ``configured``, ``mode``, ``tokenSource``, ``tokenStatus``
        (``"reauthorize"``: the account needs its ``login`` again), ``tokenDetail``,
        ``dmPolicy``, ``groupPolicy``, ``warnings`` (replacing the CLI's own open-policy
        warnings) and any other display-safe value. Never a secret. Empty: the
        CLI says what the config alone tells.
        """
        return {}

    def account_counters(self, account: ChannelAccount) -> Sequence[AccountCounter]:
        """The channel's own numbers for a running ``account`` (``/metrics`` reads them at
        every scrape: no network, no waiting)."""
        return ()

    def status_warnings(self, account: ChannelAccount) -> Sequence[str]:
        """Risky or broken settings of ``account`` (shown by ``channels status``)."""
        return ()

    async def reset_account(self, account: ChannelAccount) -> None:
        """Drop what the channel holds of the account's session, without saving it.

        Called when an account is restarted or stopped on request, right after its stop
        event is set, so that the next run starts from the saved credentials.
        """
        return

    async def aclose(self) -> None:
        """Release clients and sessions (after the inbox stopped, or after a CLI command)."""
        return

    async def serve_inbound(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Accept ``account``'s inbound HTTP (its webhook) until ``stop``, without running it.

        Cluster mode calls it on every node for as long as the node supervises the account,
        whichever node holds the lease and runs it, so that a load balancer may send Zalo's
        POSTs to any node (each admits into the shared inbox). Registering what ``run`` also
        registers must be counted, not replaced. Default: nothing to serve.
        """
        return

    # -- optional capabilities (None: the channel does not offer it) --------------------------

    @property
    def presence(self) -> Presence | None:
        """Shows "typing…" while the agent works."""
        return None

    @property
    def directory(self) -> Directory | None:
        """Who am I, who can I talk to, which groups am I in."""
        return None

    @property
    def group_members(self) -> GroupMembers | None:
        """Who is in a group."""
        return None

    @property
    def user_profiles(self) -> UserProfiles | None:
        """One user's profile."""
        return None

    @property
    def login(self) -> Login | None:
        """Interactive login and logout."""
        return None

    @property
    def reactions(self) -> Reactions | None:
        """React to a message."""
        return None

    @property
    def links(self) -> LinkSender | None:
        """Send a link with a preview card (``message send --link``)."""
        return None

    @property
    def stickers(self) -> Stickers | None:
        """Send a sticker."""
        return None

    @property
    def receipts(self) -> ReadReceipts | None:
        """Tell the sender a message was delivered and seen."""
        return None

    @property
    def reply_contexts(self) -> ReplyContexts | None:
        """The message a reply answers, for a channel whose sends depend on it (a quote)."""
        return None

    @property
    def session_import(self) -> SessionImport | None:
        """Log in with a session exported from a browser (``channels login --cookies``)."""
        return None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A user or group known to a channel account."""

    id: str
    name: str | None = None
    kind: str = "user"
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Presence(Protocol):
    """Optional capability: a "typing…" indicator."""

    async def typing(self, account: ChannelAccount, target: str) -> None:
        """Show "typing…" in ``target`` for a few seconds."""
        ...


@runtime_checkable
class Directory(Protocol):
    """Optional capability: who am I, who can I talk to, which groups am I in."""

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
class GroupMembers(Protocol):
    """Optional capability: the members of a group (``directory groups members``)."""

    async def directory_group_members(
        self, account: ChannelAccount, group_id: str
    ) -> Sequence[DirectoryEntry]:
        """The members of ``group_id``."""
        ...


@runtime_checkable
class UserProfiles(Protocol):
    """Optional capability: one user's profile."""

    async def directory_user(self, account: ChannelAccount, user_id: str) -> DirectoryEntry:
        """The profile of ``user_id`` (``extra`` holds what the channel knows beyond a name)."""
        ...


class LoginUI(Protocol):
    """What ``channels login`` (or another front end) lends a channel's login for its I/O."""

    def info(self, message: str) -> None:
        """Print one line of progress (``Waiting for the scan...``)."""
        ...

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Ask a yes/no question (``Zalo Personal already logged in. Keep session?``)."""
        ...

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Show a login QR code and save ``png`` (mode 0600); return the path.

        ``payload`` is the text the QR encodes, when the channel knows it (drawn with segno);
        otherwise the drawing is made from the PNG itself.
        """
        ...

    def show_link(self, url: str, label: str) -> None:
        """Offer a link to open in a browser (an OAuth consent page) with its one-line label.

        Front ends that subclass ``LoginUI`` inherit this default: two ``info`` lines.
        """
        self.info(label)
        self.info(url)


@runtime_checkable
class Login(Protocol):
    """Optional capability: interactive login and logout (zalouser's QR login)."""

    async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
        """Log ``account`` in; return the success line. Raise with a user-facing message."""
        ...

    async def logout(self, account: ChannelAccount) -> bool:
        """Forget the account's saved credentials; True if there were any."""
        ...


@runtime_checkable
class SessionImport(Protocol):
    """Optional capability: log in with a browser session file (a server has no QR screen)."""

    async def import_session(self, account: ChannelAccount, path: Path) -> str:
        """Check the session in ``path`` with the service, then save it; return the success
        line. Raise with a user-facing message (nothing saved)."""
        ...


@runtime_checkable
class Reactions(Protocol):
    """Optional capability: react to a message."""

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        """Add ``reaction`` to ``message_id`` in ``target``."""
        ...


@runtime_checkable
class LinkSender(Protocol):
    """Optional capability: a link with a preview card."""

    async def send_link(
        self, account: ChannelAccount, target: str, url: str, caption: str
    ) -> DeliveryReceipt:
        """Send ``url`` (with ``caption``) to ``target``."""
        ...


@runtime_checkable
class Stickers(Protocol):
    """Optional capability: a sticker."""

    async def send_sticker(
        self, account: ChannelAccount, target: str, sticker: str
    ) -> DeliveryReceipt:
        """Send ``sticker`` (an id, or a keyword the channel resolves) to ``target``."""
        ...


@runtime_checkable
class ReadReceipts(Protocol):
    """Optional capability: delivered and seen receipts (best effort)."""

    async def acknowledge(self, account: ChannelAccount, message: InboundMessage) -> None:
        """Mark ``message`` delivered and seen (maybe later, batched); never raises."""
        ...


class ReplyContexts(Protocol):
    """Optional capability: the message a reply to a target answers, as the channel noted it
    when it prepared that message (what it needs to quote it). In a cluster the node that
    prepared the message takes it and hands it to the node that sends (``put`` there)."""

    def take(self, account: ChannelAccount, target: str) -> InboundMessage | None:
        """The message the next reply to ``target`` answers, forgotten here."""
        ...

    def put(self, account: ChannelAccount, target: str, message: InboundMessage) -> None:
        """Note ``message`` as the one the next reply to ``target`` answers."""
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


@dataclass(frozen=True, slots=True)
class ChannelPlugin:
    """What the ``zalogate.channels`` entry point loads."""

    id: str
    label: str
    create: Callable[[ChannelContext], Channel]
    description: str = ""
    traits: ChannelTraits | None = None
    """What the channel declares about itself; None: the generic traits for ``id``."""
    inspector: ConfigInspector | None = None
    """Reads the channel's config without building it (``channels status``, ``doctor``);
    see :mod:`zalogate.core.inspection`. None: only the CLI's channel-agnostic checks."""

    @property
    def channel_traits(self) -> ChannelTraits:
        """The declared traits, else whatever is known for ``id`` (generic at worst)."""
        return self.traits if self.traits is not None else traits_for(self.id)
