"""Sends through the node that holds an account's session (request-reply over NATS).

A channel whose traits say ``sends_need_session_owner`` (a personal account: one websocket,
on the node holding the account's lease) is wrapped in :class:`OwnerRoutedChannel` in cluster
mode. While a node runs the account it answers requests on
``<prefix>.send.<channel>.<account>`` (a queue group: one node answers even while a lease
moves); a send on any other node is such a request. The answer carries the receipt, or the
error's :class:`~zalogate.core.errors.FailureKind` and message, raised again on the sending
node as a :class:`~zalogate.core.errors.DeliveryError`: the caller sees the same typed outcome
as on the holder. No answer within the timeout is ``DELIVERY_UNKNOWN`` (the holder may have
sent); no node listening is ``RETRYABLE`` (nothing was sent: the lease is moving).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from zalogate.cluster.layout import Layout
from zalogate.core.access import AccountPolicy
from zalogate.core.agent import AgentTool
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    Directory,
    GroupMembers,
    LinkSender,
    Login,
    Presence,
    ProbeResult,
    Reactions,
    SessionImport,
    ToolContext,
)
from zalogate.core.errors import DeliveryError, FailureKind, classify, describe_error
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload

__all__ = ["OwnerRoutedChannel"]

log = logging.getLogger("zalogate.cluster")


class OwnerRoutedChannel(Channel):
    """``inner`` with its sends, links, reactions and typing done by the account's holder.

    Everything else is ``inner``'s own. ``timeout``: seconds a remote send may take.
    """

    def __init__(self, inner: Channel, client: Client, layout: Layout, *, timeout: float) -> None:
        self.inner = inner
        self.id = inner.id
        self.text_limit = inner.text_limit
        self.chunks_replies = inner.chunks_replies
        self._client = client
        self._layout = layout
        self._timeout = timeout
        self._local: set[str] = set()
        """Accounts this node runs now (their sends go out here, directly)."""
        self._serving: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"OwnerRoutedChannel({self.inner!r})"

    # -- the routed members -----------------------------------------------------------------

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Run ``inner`` and answer the other nodes' sends for ``account`` meanwhile."""
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
        args = {"target": target, "reply": reply.model_dump(mode="json")}
        return DeliveryReceipt.model_validate(await self._call(account, "send", args))

    @property
    def links(self) -> LinkSender | None:
        return _RoutedLinks(self) if self.inner.links is not None else None

    @property
    def reactions(self) -> Reactions | None:
        return _RoutedReactions(self) if self.inner.reactions is not None else None

    @property
    def presence(self) -> Presence | None:
        return _RoutedPresence(self) if self.inner.presence is not None else None

    async def _call(self, account: ChannelAccount, op: str, args: Mapping[str, Any]) -> Any:
        """Ask the node running ``account`` to do ``op``; its outcome, typed."""
        subject = self._layout.send_subject(self.id, account.account_id)
        label = f"{self.id} account {account.account_id}"
        body = json.dumps({"op": op, **args}).encode()
        try:
            answer = await self._client.request(subject, body, timeout=self._timeout)
        except NoRespondersError:
            raise DeliveryError(
                f"no node runs the {label} now (its lease is moving); nothing was sent",
                kind=FailureKind.RETRYABLE,
            ) from None
        except (NatsTimeoutError, TimeoutError):
            raise DeliveryError(
                f"the node running the {label} did not answer within {self._timeout:g}s;"
                " the message may or may not have gone out",
                kind=FailureKind.DELIVERY_UNKNOWN,
            ) from None
        outcome = json.loads(answer.data)
        error = outcome.get("error")
        if error is not None:
            raise DeliveryError(
                str(error["message"]),
                kind=FailureKind(error["kind"]),
                partial_ids=error.get("partial_ids", ()),
            )
        return outcome.get("ok")

    async def _serve(self, account: ChannelAccount, msg: Msg) -> None:
        """Do one routed request for ``account`` and answer with its outcome."""
        try:
            request = json.loads(msg.data)
            result = await self._perform(account, request)
            answer: dict[str, Any] = {"ok": result}
        except Exception as exc:
            partial = exc.partial_ids if isinstance(exc, DeliveryError) else ()
            answer = {
                "error": {
                    "kind": classify(exc).value,
                    "message": describe_error(exc),
                    "partial_ids": list(partial),
                }
            }
        try:
            await msg.respond(json.dumps(answer).encode())
        except Exception as exc:  # the sender sees a timeout: DELIVERY_UNKNOWN
            log.warning("%s: a routed send's answer was lost: %s", self.id, exc)

    async def _perform(self, account: ChannelAccount, request: Mapping[str, Any]) -> Any:
        inner = self.inner
        op, target = request["op"], str(request["target"])
        if op == "send":
            reply = ReplyPayload.model_validate(request["reply"])
            return (await inner.send(account, target, reply)).model_dump(mode="json")
        if op == "link" and inner.links is not None:
            receipt = await inner.links.send_link(
                account, target, str(request["url"]), str(request["caption"])
            )
            return receipt.model_dump(mode="json")
        if op == "react" and inner.reactions is not None:
            await inner.reactions.react(
                account, target, str(request["message_id"]), str(request["reaction"])
            )
            return None
        if op == "typing" and inner.presence is not None:
            await inner.presence.typing(account, target)
            return None
        raise DeliveryError(f"{self.id} cannot do {op!r}", kind=FailureKind.FATAL)

    def is_local(self, account: ChannelAccount) -> bool:
        """Whether this node runs ``account`` now."""
        return account.account_id in self._local

    async def route(self, account: ChannelAccount, op: str, args: Mapping[str, Any]) -> Any:
        """Do ``op`` (``link``, ``react``, ``typing``) here when this node runs ``account``,
        else on the node that does; the result as JSON-able data."""
        if self.is_local(account):
            return await self._perform(account, {"op": op, **args})
        return await self._call(account, op, args)

    # -- everything else is the inner channel's ------------------------------------------------

    def accounts(self) -> Sequence[ChannelAccount]:
        return self.inner.accounts()

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return await self.inner.probe(account)

    def account(self, account_id: str) -> ChannelAccount | None:
        return self.inner.account(account_id)

    def policy(self, account: ChannelAccount) -> AccountPolicy | None:
        return self.inner.policy(account)

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        return await self.inner.prepare_inbound(account, message)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        return self.inner.agent_tools(account, context)

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
    def directory(self) -> Directory | None:
        return self.inner.directory

    @property
    def group_members(self) -> GroupMembers | None:
        return self.inner.group_members

    @property
    def login(self) -> Login | None:
        return self.inner.login

    @property
    def session_import(self) -> SessionImport | None:
        return self.inner.session_import


class _RoutedLinks:
    def __init__(self, channel: OwnerRoutedChannel) -> None:
        self._channel = channel

    async def send_link(
        self, account: ChannelAccount, target: str, url: str, caption: str
    ) -> DeliveryReceipt:
        args = {"target": target, "url": url, "caption": caption}
        return DeliveryReceipt.model_validate(await self._channel.route(account, "link", args))


class _RoutedReactions:
    def __init__(self, channel: OwnerRoutedChannel) -> None:
        self._channel = channel

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        args = {"target": target, "message_id": message_id, "reaction": reaction}
        await self._channel.route(account, "react", args)


class _RoutedPresence:
    def __init__(self, channel: OwnerRoutedChannel) -> None:
        self._channel = channel

    async def typing(self, account: ChannelAccount, target: str) -> None:
        await self._channel.route(account, "typing", {"target": target})
