"""An example third-party channel, built only on zalogate's public channel contract.

It stands in for a channel someone would ``pip install``: it imports nothing from
``zalogate.channels``, and the gateway, the pipeline and the core know nothing about it but
what it declares (its :class:`ChannelTraits`, its hooks and capabilities).

The "messenger" is a loopback one: users post messages as JSON to the webhook the channel
mounts on the gateway's HTTP server (``POST /example/<account>``), and every message the
channel sends lands in :attr:`LoopbackChannel.outbox`, where the test reads it as the user
would. It offers the optional capabilities a real channel may offer: "typing…"
(``presence``), a directory, reactions, an agent tool, and a ``reset_account`` hook.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from zalogate.core.agent import AgentTool, FunctionTool
from zalogate.core.channel import (
    Admitter,
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    Directory,
    DirectoryEntry,
    Presence,
    ProbeResult,
    Reactions,
    Receive,
    Scope,
    Send,
    ToolContext,
)
from zalogate.core.errors import ChannelError, DeliveryError, FailureKind
from zalogate.core.model import (
    ChatType,
    DeliveryReceipt,
    InboundMessage,
    MentionFacts,
    ReplyPayload,
)
from zalogate.core.targets import TargetError, parse_target
from zalogate.core.traits import ChannelTraits

CHANNEL_ID = "example"
TEXT_LIMIT = 40
"""A tiny limit, so that chunking shows with short replies."""

TRAITS = ChannelTraits(
    id=CHANNEL_ID,
    prefixes=("example", "ex"),
    target_kinds=MappingProxyType({"room": "group", "person": "user"}),
    raw_id_markers=False,
    pairing_id_label="exampleUserId",
)


class AccountRevokedError(ChannelError):
    """The loopback messenger refused the account's credentials."""

    kind = FailureKind.UNAUTHORIZED


@dataclass(slots=True)
class Sent:
    """One message the channel sent (what the user sees)."""

    account_id: str
    target: str
    text: str
    kind: str = "text"
    reply_to: str | None = None


@dataclass(slots=True)
class LoopbackChannel(Channel):
    """The example channel: accounts from ``settings``, a webhook per account."""

    context: ChannelContext
    settings: Mapping[str, Mapping[str, Any]]
    outbox: list[Sent] = field(default_factory=list)
    typing_calls: list[str] = field(default_factory=list)
    reactions_given: list[tuple[str, str, str]] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    revoked: set[str] = field(default_factory=set)
    """Accounts whose next run fails as unauthorised."""

    id: str = CHANNEL_ID
    text_limit: int = TEXT_LIMIT
    _counter: int = 0

    # -- the contract ------------------------------------------------------------------

    def accounts(self) -> Sequence[ChannelAccount]:
        return [
            ChannelAccount(CHANNEL_ID, account_id, bool(values.get("enabled", True)), values)
            for account_id, values in self.settings.items()
        ]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        self.runs[account.account_id] = self.runs.get(account.account_id, 0) + 1
        if account.account_id in self.revoked:
            raise AccountRevokedError(f"[{account.account_id}] the messenger refused the token")
        routes = self.context.routes
        assert routes is not None, "the example channel needs the gateway's HTTP server"
        path = f"/example/{account.account_id}"
        routes.mount(path, _Webhook(account, self.context.inbox), name=path)
        try:
            await stop.wait()
        finally:
            routes.unmount(path)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        try:
            parsed = parse_target(target, CHANNEL_ID)
        except TargetError as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        ids: list[str] = []
        if reply.text:
            self.outbox.append(
                Sent(account.account_id, parsed.canonical, reply.text, reply_to=reply.reply_to_id)
            )
            ids.append(self._next_id())
        for url in reply.media_urls:
            self.outbox.append(Sent(account.account_id, parsed.canonical, url, "media"))
            ids.append(self._next_id())
        return DeliveryReceipt(message_ids=tuple(ids))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=account.account_id not in self.revoked, detail="loopback")

    # -- hooks ---------------------------------------------------------------------------

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        async def shout(args: dict[str, Any]) -> dict[str, Any]:
            target = str(args.get("target") or (context.target if context else ""))
            receipt = await self.send(
                account, target, ReplyPayload(text=str(args.get("text", "")).upper())
            )
            return {"ok": True, "messageIds": list(receipt.message_ids)}

        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return [FunctionTool("example_shout", "Send TEXT in capitals.", schema, shout)]

    def account_snapshot(self, account: ChannelAccount) -> Mapping[str, Any]:
        return {"configured": True, "mode": "loopback"}

    async def reset_account(self, account: ChannelAccount) -> None:
        self.resets.append(account.account_id)

    async def aclose(self) -> None:
        self.closed = True

    # -- capabilities ----------------------------------------------------------------------

    @property
    def presence(self) -> Presence:
        return self

    @property
    def directory(self) -> Directory:
        return self

    @property
    def reactions(self) -> Reactions:
        return self

    async def typing(self, account: ChannelAccount, target: str) -> None:
        self.typing_calls.append(target)

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        return DirectoryEntry(id=f"bot-{account.account_id}", name="Loopback bot", kind="bot")

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        peers = sorted({s.target for s in self.outbox if not s.target.startswith("group:")})
        return [DirectoryEntry(id=p) for p in peers][:limit]

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return []

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        self.reactions_given.append((target, message_id, reaction))

    def _next_id(self) -> str:
        self._counter += 1
        return f"out-{self._counter}"


class _Webhook:
    """``POST /example/<account>`` with ``{"id", "from", "text", "room"?, "mention"?}``."""

    def __init__(self, account: ChannelAccount, inbox: Admitter) -> None:
        self._account = account
        self._inbox = inbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        try:
            update = json.loads(body)
            message = _inbound(self._account, update)
        except (ValueError, KeyError, TypeError) as exc:
            await _answer(send, 400, {"ok": False, "error": str(exc)})
            return
        admission = await self._inbox.admit(message)
        await _answer(send, 200, {"ok": True, "duplicate": admission.duplicate})


def _inbound(account: ChannelAccount, update: Mapping[str, Any]) -> InboundMessage:
    room = update.get("room")
    return InboundMessage(
        channel=CHANNEL_ID,
        account_id=account.account_id,
        chat_type=ChatType.GROUP if room else ChatType.DIRECT,
        chat_id=str(room or update["from"]),
        sender_id=str(update["from"]),
        sender_name=update.get("name"),
        message_id=str(update["id"]),
        timestamp_ms=int(update.get("ts", 0)),
        text=str(update.get("text", "")),
        mentions=MentionFacts(was_mentioned=bool(update.get("mention"))),
    )


async def _answer(send: Send, status: int, payload: Mapping[str, Any]) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def plugin(settings: Mapping[str, Mapping[str, Any]], made: list[LoopbackChannel]) -> ChannelPlugin:
    """The plugin a third party would publish under the ``zalogate.channels`` entry point;
    ``made`` receives the channel the gateway creates."""

    def create(context: ChannelContext) -> Channel:
        channel = LoopbackChannel(context, settings)
        made.append(channel)
        return channel

    return ChannelPlugin(id=CHANNEL_ID, label="Loopback example", create=create, traits=TRAITS)
