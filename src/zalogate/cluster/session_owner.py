"""Sends and look-ups through the node that holds an account's session (NATS request-reply).

A channel whose traits say ``sends_need_session_owner`` (a personal account: one websocket,
on the node holding the account's lease) is wrapped in :class:`OwnerRoutedChannel` in cluster
mode: everything that acts from the account's session (sends, links, stickers, reactions,
typing, read receipts, directory and profile look-ups, group members, the probe, and so the
agent tools and ``prepare_inbound``'s notices that use them) is done by the node running the
account, never by a second client for the same account on another node.

While a node runs the account it answers requests on ``<prefix>.send.<channel>.<account>``
(a queue group: one node answers even while a lease moves); the same thing asked on any
other node is such a request, one of the closed set in :mod:`zalogate.cluster.routed_ops`.
The answer carries the result (validated back into the capability's return type), or the
error's :class:`~zalogate.core.errors.FailureKind` and message, raised again on the asking
node (a :class:`~zalogate.core.errors.DeliveryError` for a send, a
:class:`~zalogate.core.errors.ChannelError` for a look-up): the caller sees the same typed
outcome as on the holder. No node listening is ``RETRYABLE`` (nothing was done: the lease is
moving); no answer within the timeout is ``DELIVERY_UNKNOWN`` for a send (the holder may
have sent) and ``RETRYABLE`` for a look-up.

A one-off command (``zalogate directory``, ``message send --direct``, ``channels status
--probe``) and ``zalogate mcp`` act through the holder too (:mod:`zalogate.cluster.one_off`);
only when no node holds the account's lease at all do they act from this machine's saved
session, as on a single node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from zalogate.cluster.layout import Layout
from zalogate.cluster.routed_ops import (
    ENTRIES,
    ENTRY,
    PROBE,
    RECEIPT,
    Groups,
    Link,
    Members,
    Peers,
    Probe,
    React,
    Receipt,
    RoutedRequest,
    Self,
    Send,
    Sticker,
    Typing,
    UnknownOpError,
    User,
    parse_request,
)
from zalogate.core.access import AccountPolicy
from zalogate.core.agent import AgentTool
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    Directory,
    DirectoryEntry,
    GroupMembers,
    LinkSender,
    Login,
    Presence,
    ProbeResult,
    Reactions,
    ReadReceipts,
    ReplyContexts,
    SessionImport,
    Stickers,
    ToolContext,
    UserProfiles,
)
from zalogate.core.errors import ChannelError, DeliveryError, FailureKind, classify, describe_error
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload

__all__ = ["OwnerRoutedChannel"]

log = logging.getLogger("zalogate.cluster")

T = TypeVar("T")
C = TypeVar("C")
_NOTHING: TypeAdapter[None] = TypeAdapter(type(None))


class OwnerRoutedChannel(Channel):
    """``inner`` with what acts from an account's session done by the account's holder.

    Everything else (config, status, login on this machine) is ``inner``'s own.
    ``timeout``: seconds a remote send may take; ``lookup_timeout``: a remote look-up or
    probe (default ``timeout``). ``unheld``: for a process that never runs accounts (a
    one-off command), whether no node holds an account's lease; when no node answers and it
    says so, the request is done here with ``inner`` (None: never, the gateway's way).
    """

    def __init__(
        self,
        inner: Channel,
        client: Client,
        layout: Layout,
        *,
        timeout: float,
        lookup_timeout: float | None = None,
        unheld: Callable[[ChannelAccount], Awaitable[bool]] | None = None,
    ) -> None:
        self.inner = inner
        self.id = inner.id
        self.text_limit = inner.text_limit
        self.chunks_replies = inner.chunks_replies
        self._client = client
        self._layout = layout
        self._timeout = timeout
        self._lookup_timeout = timeout if lookup_timeout is None else lookup_timeout
        self._unheld = unheld
        self._local: set[str] = set()
        """Accounts this node runs now (their requests are done here, directly)."""
        self._serving: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"OwnerRoutedChannel({self.inner!r})"

    # -- the routed members -----------------------------------------------------------------

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Run ``inner`` and answer the other nodes' requests for ``account`` meanwhile."""
        subject = self._layout.send_subject(self.id, account.account_id)

        async def serve(msg: Msg) -> None:  # one task per request: sends run in parallel
            task = asyncio.create_task(self._serve(account, msg))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

        sub = await self._client.subscribe(subject, queue="holder", cb=serve)
        self._local.add(account.account_id)
        try:
            await self.inner.run(account, stop)
        finally:
            self._local.discard(account.account_id)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        if account.account_id in self._local:
            return await self.inner.send(account, target, reply)
        contexts = self.inner.reply_contexts  # the message prepared here goes with the reply
        answering = contexts.take(account, target) if contexts is not None else None
        request = Send(target=target, reply=reply, answering=answering)
        return await self.route(account, request, RECEIPT)

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        """The holder's probe (it logs in from the saved session when no client is live)."""
        return await self.route(account, Probe(), PROBE)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """``inner``'s tools, acting through this channel (so through the holder)."""
        return self.inner.agent_tools_via(self, account, context)

    def agent_tools_via(
        self, via: Channel, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        return self.inner.agent_tools_via(via, account, context)

    @property
    def links(self) -> LinkSender | None:
        return _RoutedLinks(self) if self.inner.links is not None else None

    @property
    def stickers(self) -> Stickers | None:
        return _RoutedStickers(self) if self.inner.stickers is not None else None

    @property
    def reactions(self) -> Reactions | None:
        return _RoutedReactions(self) if self.inner.reactions is not None else None

    @property
    def receipts(self) -> ReadReceipts | None:
        return _RoutedReceipts(self) if self.inner.receipts is not None else None

    @property
    def reply_contexts(self) -> ReplyContexts | None:
        return self.inner.reply_contexts

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        """``inner``'s, its notices and receipts through this channel (so the holder)."""
        return await self.inner.prepare_inbound_via(self, account, message)

    async def prepare_inbound_via(
        self, via: Channel, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        return await self.inner.prepare_inbound_via(via, account, message)

    @property
    def presence(self) -> Presence | None:
        return _RoutedPresence(self) if self.inner.presence is not None else None

    @property
    def directory(self) -> Directory | None:
        return _RoutedDirectory(self) if self.inner.directory is not None else None

    @property
    def group_members(self) -> GroupMembers | None:
        return _RoutedDirectory(self) if self.inner.group_members is not None else None

    @property
    def user_profiles(self) -> UserProfiles | None:
        return _RoutedDirectory(self) if self.inner.user_profiles is not None else None

    def is_local(self, account: ChannelAccount) -> bool:
        """Whether this node runs ``account`` now."""
        return account.account_id in self._local

    async def route(
        self, account: ChannelAccount, request: RoutedRequest, result: TypeAdapter[T]
    ) -> T:
        """Do ``request`` here when this node runs ``account``, else on the node that does;
        its result as ``result`` says (validated)."""
        if self.is_local(account):
            return result.validate_python(await self._perform(account, request))
        try:
            answer = await self._call(account, request)
        except _NobodyListensError as nobody:
            if self._unheld is None or not await self._unheld(account):
                raise nobody.failure from None
            log.info(
                "no node runs the %s account %s: %s from this process's saved session",
                self.id,
                account.account_id,
                request.op,
            )
            return result.validate_python(await self._perform(account, request))
        try:
            return result.validate_python(answer)
        except ValidationError as exc:
            kind = FailureKind.DELIVERY_UNKNOWN if request.sends else FailureKind.FATAL
            message = f"the node running {self.id} account {account.account_id} answered"
            why = exc.errors()[0]["msg"]
            raise _failure(
                request, f"{message} a malformed {request.op} result: {why}", kind
            ) from None

    async def _call(self, account: ChannelAccount, request: RoutedRequest) -> Any:
        """Ask the node running ``account`` to do ``request``; its outcome as JSON data."""
        subject = self._layout.send_subject(self.id, account.account_id)
        label = f"{self.id} account {account.account_id}"
        timeout = self._timeout if request.sends else self._lookup_timeout
        try:
            answer = await self._client.request(subject, to_json(request), timeout=timeout)
        except NoRespondersError:
            failure = _failure(
                request,
                f"no node runs the {label} now (its lease is moving); nothing was "
                f"{'sent' if request.sends else 'asked'}, try again shortly",
                FailureKind.RETRYABLE,
            )
            raise _NobodyListensError(failure) from None
        except (NatsTimeoutError, TimeoutError):
            if request.sends:
                raise _failure(
                    request,
                    f"the node running the {label} did not answer within {timeout:g}s;"
                    " the message may or may not have gone out",
                    FailureKind.DELIVERY_UNKNOWN,
                ) from None
            raise _failure(
                request,
                f"the node running the {label} did not answer the {request.op} look-up"
                f" within {timeout:g}s",
                FailureKind.RETRYABLE,
            ) from None
        outcome = _OUTCOME.validate_json(answer.data)
        error = outcome.get("error")
        if isinstance(error, dict):
            kind = FailureKind(error["kind"])
            partial = error.get("partial_ids", ())
            raise _failure(request, str(error["message"]), kind, partial)
        return outcome.get("ok")

    async def _serve(self, account: ChannelAccount, msg: Msg) -> None:
        """Do one routed request for ``account`` and answer with its outcome."""
        try:
            result = await self._perform(account, parse_request(msg.data))
            answer: dict[str, Any] = {"ok": result}
        except Exception as exc:
            partial = exc.partial_ids if isinstance(exc, DeliveryError) else ()
            kind = FailureKind.FATAL if isinstance(exc, UnknownOpError) else classify(exc)
            message = str(exc) if isinstance(exc, UnknownOpError) else describe_error(exc)
            answer = {"error": {"kind": kind.value, "message": message, "partial_ids": partial}}
        try:
            await msg.respond(to_json(answer))
        except Exception as exc:  # the asker sees a timeout (DELIVERY_UNKNOWN for a send)
            log.warning("%s: a routed request's answer was lost: %s", self.id, exc)

    async def _perform(self, account: ChannelAccount, request: RoutedRequest) -> object:
        """Do ``request`` with ``inner`` (this node runs ``account``); the typed result."""
        inner = self.inner
        match request:
            case Send():
                contexts = inner.reply_contexts
                if request.answering is not None and contexts is not None:
                    contexts.put(account, request.target, request.answering)
                return await inner.send(account, request.target, request.reply)
            case Link():
                links = self._needs(inner.links, "links")
                return await links.send_link(account, request.target, request.url, request.caption)
            case Sticker():
                stickers = self._needs(inner.stickers, "stickers")
                return await stickers.send_sticker(account, request.target, request.sticker)
            case React():
                reactions = self._needs(inner.reactions, "reactions")
                await reactions.react(account, request.target, request.message_id, request.reaction)
                return None
            case Typing():
                await self._needs(inner.presence, "presence").typing(account, request.target)
                return None
            case Receipt():
                receipts = self._needs(inner.receipts, "receipts")
                await receipts.acknowledge(account, request.message)
                return None
            case Self():
                return await self._needs(inner.directory, "directory").directory_self(account)
            case Peers():
                directory = self._needs(inner.directory, "directory")
                return await directory.directory_peers(account, request.query, request.limit)
            case Groups():
                directory = self._needs(inner.directory, "directory")
                return await directory.directory_groups(account, request.query, request.limit)
            case User():
                profiles = self._needs(inner.user_profiles, "user profiles")
                return await profiles.directory_user(account, request.user_id)
            case Members():
                members = self._needs(inner.group_members, "group members")
                return await members.directory_group_members(account, request.group_id)
            case Probe():
                return await inner.probe(account)

    def _needs(self, capability: C | None, name: str) -> C:
        if capability is None:
            raise ChannelError(f"{self.id} has no {name}", kind=FailureKind.FATAL)
        return capability

    # -- everything else is the inner channel's ------------------------------------------------

    def accounts(self) -> Sequence[ChannelAccount]:
        return self.inner.accounts()

    def account(self, account_id: str) -> ChannelAccount | None:
        return self.inner.account(account_id)

    def policy(self, account: ChannelAccount) -> AccountPolicy | None:
        return self.inner.policy(account)

    def account_snapshot(self, account: ChannelAccount) -> Mapping[str, Any]:
        return self.inner.account_snapshot(account)

    def status_warnings(self, account: ChannelAccount) -> Sequence[str]:
        return self.inner.status_warnings(account)

    async def reset_account(self, account: ChannelAccount) -> None:
        await self.inner.reset_account(account)

    async def serve_inbound(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await self.inner.serve_inbound(account, stop)

    async def aclose(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await self.inner.aclose()

    @property
    def login(self) -> Login | None:
        return self.inner.login

    @property
    def session_import(self) -> SessionImport | None:
        return self.inner.session_import


_OUTCOME: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


class _NobodyListensError(Exception):
    """No node answers on the account's subject (nothing was done); ``failure`` says so."""

    def __init__(self, failure: ChannelError) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _failure(
    request: RoutedRequest, message: str, kind: FailureKind, partial: Sequence[str] = ()
) -> ChannelError:
    """The error the asker raises: a send's is a :class:`DeliveryError`."""
    if request.sends:
        return DeliveryError(message, kind=kind, partial_ids=partial)
    return ChannelError(message, kind=kind)


class _Routed:
    def __init__(self, channel: OwnerRoutedChannel) -> None:
        self._channel = channel


class _RoutedLinks(_Routed):
    async def send_link(
        self, account: ChannelAccount, target: str, url: str, caption: str
    ) -> DeliveryReceipt:
        request = Link(target=target, url=url, caption=caption)
        return await self._channel.route(account, request, RECEIPT)


class _RoutedStickers(_Routed):
    async def send_sticker(
        self, account: ChannelAccount, target: str, sticker: str
    ) -> DeliveryReceipt:
        request = Sticker(target=target, sticker=sticker)
        return await self._channel.route(account, request, RECEIPT)


class _RoutedReactions(_Routed):
    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        request = React(target=target, message_id=message_id, reaction=reaction)
        await self._channel.route(account, request, _NOTHING)


class _RoutedPresence(_Routed):
    async def typing(self, account: ChannelAccount, target: str) -> None:
        await self._channel.route(account, Typing(target=target), _NOTHING)


class _RoutedReceipts(_Routed):
    async def acknowledge(self, account: ChannelAccount, message: InboundMessage) -> None:
        try:
            await self._channel.route(account, Receipt(message=message), _NOTHING)
        except ChannelError as exc:  # a courtesy: never fail the message for it
            log.debug("%s: receipts not queued at the holder: %s", self._channel.id, exc)


class _RoutedDirectory(_Routed):
    """The ``directory``, ``group_members`` and ``user_profiles`` of the holder."""

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        return await self._channel.route(account, Self(), ENTRY)

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return await self._channel.route(account, Peers(query=query, limit=limit), ENTRIES)

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return await self._channel.route(account, Groups(query=query, limit=limit), ENTRIES)

    async def directory_user(self, account: ChannelAccount, user_id: str) -> DirectoryEntry:
        return await self._channel.route(account, User(user_id=user_id), ENTRY)

    async def directory_group_members(
        self, account: ChannelAccount, group_id: str
    ) -> Sequence[DirectoryEntry]:
        return await self._channel.route(account, Members(group_id=group_id), ENTRIES)
