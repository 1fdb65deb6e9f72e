"""The message pipeline: what happens to one inbound message after the inbox admitted it.

``Pipeline.process`` is the inbox handler. In order:

1. access: a DM goes through ``decide_dm`` (the pairing store counts only under ``pairing``);
   an unknown sender under ``pairing`` gets a pairing code once and the message is not
   processed. A group message goes through ``decide_group`` and the mention gate; a skipped
   message is kept in the pending group history; a control command in a group needs
   ``authorize_command``.
2. the channel's ``prepare_inbound`` hook (e.g. ``zalo`` downloads images only now, after
   access control) → ``session_key`` →
   :class:`~zalogate.agents.base.Turn` (pending history prepended) → ``agent.respond(turn)``,
   with the channel's typing indicator (its ``presence`` capability) kept alive meanwhile.
3. every payload the agent yields is normalised (``NO_REPLY`` suppressed, response prefix),
   chunked with ``chunk_text`` and sent serially in order, one ``channel.send`` per chunk (media
   on the first), by :class:`~zalogate.core.delivery.Deliverer`: each chunk's intent and
   outcome go to the outbox log at once and to ``pipeline_deliveries`` right after.

Errors propagate, so the inbox retries (or dead-letters) the message. On a retry or a replay
after a crash, chunks already confirmed are skipped and a chunk whose send was cut off or
ended unknown is resent at most once (``resend_unknown``); a reply is sent twice only when
the process died (or the answer was lost) during that chunk's call. A partial receipt (some
pieces out, then a failure) is recorded with the ids that did go out and raised as a retryable
:class:`~zalogate.core.errors.DeliveryError`; the retry does not repeat that chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from zalogate.core.access import (
    AccountPolicy,
    authorize_command,
    command_body,
    decide_dm,
    decide_group,
    is_control_command,
)
from zalogate.core.agent import Agent, AgentTool, Turn
from zalogate.core.chunking import chunk_text
from zalogate.core.delivery import Deliverer, SendSlot, record_delivery, reply_target
from zalogate.core.errors import (
    NonRetryableError,
    describe_error,
)
from zalogate.core.history import (
    GroupHistory,
    HistoryEntry,
    SqliteGroupHistory,
    format_with_history,
    group_history_key,
    mention_gate_detail,
)
from zalogate.core.ingress import current_entry
from zalogate.core.model import InboundMessage, ReplyPayload
from zalogate.core.outbox import OUTBOX_FILENAME, DeliveryLog, Outbox
from zalogate.core.pairing import PairingStore, SqlitePairingStore, pairing_challenge_text
from zalogate.core.presence import DEFAULT_TYPING_INTERVAL, typing_keepalive
from zalogate.core.sessions import legacy_dm_key, session_key

if TYPE_CHECKING:
    from zalogate.core.channel import Channel, ChannelAccount
    from zalogate.store import Store

__all__ = [
    "SILENT_TOKEN",
    "AgentSelector",
    "Outcome",
    "Pipeline",
    "PipelineCounters",
    "SessionIndex",
    "SessionOptions",
    "apply_response_prefix",
    "is_silent",
    "media_placeholder",
    "record_delivery",
    "reply_target",
]

log = logging.getLogger(__name__)


class SessionIndex(Protocol):
    """Which sessions have a stored transcript (the agents layer owns the transcripts)."""

    async def existing(self, session_keys: Sequence[str]) -> Collection[str]:
        """The keys among ``session_keys`` that have a stored transcript."""
        ...


class TranscriptNotes(Protocol):
    """Where a conversation event is noted (the agents layer's transcripts)."""

    async def append(self, session_key: str, messages: Sequence[dict[str, Any]]) -> None:
        """Append ``messages`` (chat message dicts) to the session's transcript."""
        ...


SILENT_TOKEN = "NO_REPLY"  # noqa: S105 (not a secret: the silent-reply token)

TypingHook = Callable[["ChannelAccount", str], Awaitable[object]]
AccountLookup = Callable[[str, str], "ChannelAccount"]
ToolsFor = Callable[[InboundMessage], "Sequence[AgentTool]"]
PausedCheck = Callable[[InboundMessage], Awaitable[bool]]
AgentSelector = Callable[[InboundMessage], "tuple[str, Agent]"]
"""``message -> (agent id, agent)``: which agent answers (the bindings); the id is part of the
session key."""

_PLACEHOLDER_KINDS = {"image", "video", "audio", "sticker", "file", "document"}


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """``session.*`` settings used to build session keys."""

    dm_scope: str = "main"
    main_key: str = "main"
    agent_id: str = "main"
    group_scope: str = "group"
    identity_links: Mapping[str, Sequence[str]] | None = None


@dataclass(slots=True)
class PipelineCounters:
    """Running totals (for status output and benchmarks)."""

    replied: int = 0
    dropped: int = 0
    challenged: int = 0
    skipped: int = 0
    chunks_sent: int = 0
    chunks_already_sent: int = 0
    delivery_failures: int = 0
    ambiguous: int = 0
    """Sends whose outcome is unknown (reset after the request was written, read timeout)."""
    resends: int = 0
    """Chunks sent again because an earlier send's outcome was unknown (at most once each)."""
    abandoned: int = 0
    """Ambiguous chunks not sent again (policy ``never``, or a resend that was unknown too)."""
    unrecorded: int = 0
    """Delivery records the store could not write (e.g. a full disk); nothing was resent."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :meth:`Pipeline.handle` did with a message."""

    action: Literal["replied", "dropped", "challenged", "skipped", "handled"]
    reason: str
    session_key: str | None = None
    message_ids: tuple[str, ...] = ()


def is_silent(text: str) -> bool:
    """True when ``text`` is the silent token ``NO_REPLY`` (any case, surrounding space)."""
    return text.strip().upper() == SILENT_TOKEN


def apply_response_prefix(text: str, prefix: str | None, *, identity: str | None = None) -> str:
    """Prefix ``text`` with the account's ``responsePrefix``.

    ``""``/None disable it; ``"auto"`` gives ``[<identity>]`` (nothing without a name); a text
    that already starts with the prefix is left alone.
    """
    if not prefix or not text:
        return text
    if prefix.strip().lower() == "auto":
        if not identity:
            return text
        prefix = f"[{identity}]"
    if text.startswith(prefix):
        return text
    return f"{prefix} {text}"


def media_placeholder(kind: str, placeholder: str | None = None) -> str:
    """The agent-facing placeholder of an attachment (``<media:image>``...)."""
    if placeholder:
        return placeholder
    name = kind.strip().lower()
    if name == "file":
        name = "document"
    return f"<media:{name if name in _PLACEHOLDER_KINDS else 'document'}>"


def _message_text(message: InboundMessage) -> str:
    text = message.text.strip()
    if text:
        # An attachment without a file but with an explicit placeholder (e.g. a download that
        # failed) is still announced to the agent, after the text.
        notes = [m.placeholder for m in message.media if m.placeholder and m.path is None]
        return "\n\n".join([text, *notes]) if notes else text
    return " ".join(media_placeholder(m.kind, m.placeholder) for m in message.media)


def _sender_label(message: InboundMessage) -> str:
    return (message.sender_name or "").strip() or message.sender_id


class Pipeline:
    """Access control, agent turn and ordered delivery for one inbound message at a time.

    Args:
        store: The shared store (deliveries, pairing, history).
        channels: Channels by id.
        policy_for: The access/delivery policy of a message's account.
        agent: The agent backend.
        accounts: ``(channel, account_id) -> ChannelAccount``, a mapping with those keys,
            or None to look the account up in ``channel.accounts()``.
        session: Session key settings.
        pairing: The pairing store (default: one on ``store``).
        history: The pending group history (default: one on ``store``).
        tools: The agent tools offered for a message (default: none).
        on_typing: Shows "typing…" (default: the channel's ``presence``, if it has one).
        sessions: Which sessions exist, for a channel's legacy DM session key (see
            :func:`~zalogate.core.sessions.legacy_dm_key`); None: legacy keys are not reused.
        on_delivered: Called with ``(channel, account id)`` after a chunk went out (the
            gateway stamps the account's last outbound).
        outbox: Where chunk outcomes are noted first (default: the outbox log,
            ``outbox.log`` next to the store's database; a cluster's shares them).
        resend_unknown: Send a chunk whose outcome is unknown once more (default) or never.
        max_in_flight: Sends of one account awaiting Zalo's answer at a time (0: no limit);
            a kill cuts off at most that many, each resent once on replay. An account's
            policy may set its own (``AccountPolicy.max_in_flight``).
        on_send_failed: Called with ``(channel, account id, error)`` when a send failed (the
            gateway shows the account ``degraded`` until a send works again).
        paused: True when an operator has taken the message's conversation over (it is then
            recorded there and not answered; see :mod:`zalogate.core.takeover`).
        select_agent: Picks the agent of a message (default: ``agent``, with the session
            options' agent id).
        notes: Where conversation events (``InboundMessage.event``) are noted; None: they
            are only counted.
        typing_interval: Seconds between typing renewals while the agent works.
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        policy_for: Callable[[InboundMessage], AccountPolicy],
        agent: Agent,
        accounts: AccountLookup | Mapping[tuple[str, str], ChannelAccount] | None = None,
        session: SessionOptions | None = None,
        pairing: PairingStore | None = None,
        history: GroupHistory | None = None,
        tools: ToolsFor | None = None,
        on_typing: TypingHook | None = None,
        typing_interval: float = DEFAULT_TYPING_INTERVAL,
        clock: Callable[[], float] = time.time,
        sessions: SessionIndex | None = None,
        on_delivered: Callable[[str, str], None] | None = None,
        outbox: DeliveryLog | None = None,
        resend_unknown: bool = True,
        max_in_flight: int = 1,
        on_send_failed: Callable[[str, str, str], None] | None = None,
        paused: PausedCheck | None = None,
        select_agent: AgentSelector | None = None,
        notes: TranscriptNotes | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.policy_for = policy_for
        self.agent = agent
        self._accounts = accounts
        self.session = session or SessionOptions()
        self.pairing = pairing or SqlitePairingStore(store, clock=clock)
        self.history = history or SqliteGroupHistory(store)
        self.tools = tools
        self.on_typing = on_typing
        self.typing_interval = typing_interval
        self.clock = clock
        self.counters = PipelineCounters()
        self.sessions = sessions
        self.on_delivered = on_delivered
        self.outbox: DeliveryLog = outbox or Outbox(Path(store.path).parent / OUTBOX_FILENAME)
        self.resend_unknown = resend_unknown
        self.max_in_flight = max_in_flight
        self._send_slots: dict[tuple[str, str], SendSlot | None] = {}
        self.on_send_failed = on_send_failed
        self.paused = paused
        self.select_agent = select_agent
        self.notes = notes
        # Session keys whose legacy twin had no transcript: nothing writes legacy
        # keys any more, so the answer never changes (saves one store read per DM).
        self._no_legacy: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def send_slot(self, message: InboundMessage) -> SendSlot | None:
        """Held by a send to ``message``'s account from the request until its outcome is
        noted (``max_in_flight``, or the account policy's own); None: no limit."""
        key = (message.channel, message.account_id)
        slots = self._send_slots
        if key in slots:
            return slots[key]
        own = self.policy_for(message).max_in_flight
        limit = self.max_in_flight if own is None else own
        slot = slots[key] = SendSlot(limit) if limit > 0 else None
        return slot

    def _channel(self, message: InboundMessage) -> Channel:
        channel = self.channels.get(message.channel)
        if channel is None:
            raise NonRetryableError(f"no channel {message.channel!r} is running")
        return channel

    def _account(self, channel: Channel, message: InboundMessage) -> ChannelAccount:
        lookup = self._accounts
        if callable(lookup):
            return lookup(message.channel, message.account_id)
        if lookup is not None:
            found = lookup.get((message.channel, message.account_id))
            if found is not None:
                return found
        else:
            for account in channel.accounts():
                if account.account_id == message.account_id:
                    return account
        raise NonRetryableError(f"no account {message.account_id!r} in channel {message.channel!r}")

    async def _chunk_statuses(self, message: InboundMessage, fresh: bool) -> dict[int, str]:
        """seq -> the last status of each chunk of ``message``'s reply sent before (on the
        ``fresh`` first attempt of a new message: only what the outbox knows)."""
        key = (message.channel, message.account_id, message.message_id)
        statuses: dict[int, str] = {}
        if not fresh:
            rows = await self.store.fetchall(
                "SELECT seq, status FROM pipeline_deliveries WHERE channel = ?"
                " AND account_id = ? AND message_id = ?",
                key,
            )
            statuses = {int(row["seq"]): str(row["status"]) for row in rows}
        if self.outbox.has(key):  # newer than the store's rows (written before them)
            statuses.update((seq, st) for seq, (st, _ids) in self.outbox.statuses(key).items())
        return statuses

    def _typing_callback(
        self, channel: Channel, account: ChannelAccount, target: str
    ) -> Callable[[], Awaitable[object]] | None:
        hook = self.on_typing
        if hook is not None:
            return lambda: hook(account, target)
        presence = channel.presence
        if presence is not None:
            return lambda: presence.typing(account, target)
        return None

    def _drop(self, message: InboundMessage, reason: str) -> Outcome:
        self.counters.dropped += 1
        log.debug(
            "dropped %s message %s from %s: %s",
            message.channel,
            message.message_id,
            message.sender_id,
            reason,
        )
        return Outcome("dropped", reason)

    # ------------------------------------------------------------------ processing
    async def process(self, message: InboundMessage) -> None:
        """The inbox handler: :meth:`handle` without the outcome."""
        await self.handle(message)

    async def handle(self, message: InboundMessage) -> Outcome:
        """Run one message through access control, the agent and delivery."""
        channel = self._channel(message)
        account = self._account(channel, message)
        try:
            policy = self.policy_for(message)
        except LookupError as exc:  # an account that is no longer configured
            raise NonRetryableError(f"no access policy for this message: {exc}") from exc
        text = _message_text(message)
        was_mentioned = False
        history_key: str | None = None
        pending: list[HistoryEntry] = []
        if message.is_group:
            decision = decide_group(
                policy,
                message.chat_id,
                message.sender_id,
                group_name=message.group_name,
                sender_name=message.sender_name,
            )
            mentions = message.mentions
            command = command_body(
                message.text,
                command_text=message.command_text,
                has_mention=mentions.has_any_mention or mentions.was_mentioned,
            )
            is_command = is_control_command(command)
            command_ok = is_command and authorize_command(policy, True, message.sender_id)
            gate = mention_gate_detail(
                decision,
                mentions,
                text=message.text,
                patterns=policy.mention_patterns,
                is_command=is_command,
                command_authorized=command_ok,
                quoted_bot_counts=policy.quoted_bot_counts,
            )
            history_key = group_history_key(message.channel, message.account_id, message.chat_id)
            if gate.action == "drop":
                return self._drop(message, gate.reason)
            if gate.action == "skip":
                await self.history.append(
                    history_key,
                    HistoryEntry(
                        sender=_sender_label(message),
                        body=text,
                        timestamp_ms=message.timestamp_ms,
                        message_id=message.message_id,
                        sender_id=message.sender_id,
                        media=tuple(m.path for m in message.media if m.kind == "image" and m.path),
                    ),
                    policy.history_limit,
                )
                self.counters.skipped += 1
                return Outcome("skipped", gate.reason)
            if is_command and not command_ok:
                log.info(
                    "%s: drop control command from unauthorized sender %s",
                    message.channel,
                    message.sender_id,
                )
                return self._drop(message, "command_unauthorized")
            was_mentioned = gate.was_mentioned
            pending = await self.history.peek(history_key)
        else:
            dm = decide_dm(policy, message.sender_id, sender_name=message.sender_name)
            if dm.action == "challenge":
                allowed = await self.pairing.allowed_senders(message.channel, message.account_id)
                dm = decide_dm(
                    policy,
                    message.sender_id,
                    sender_name=message.sender_name,
                    store_allowed=allowed,
                )
            if dm.action == "drop":
                return self._drop(message, dm.reason)
            if dm.action == "challenge" and message.event is not None:
                return self._drop(message, "event_from_unpaired_sender")
            if dm.action == "challenge":
                return await self._challenge(message, channel, account)

        if self.paused is not None and await self.paused(message):
            return Outcome("skipped", "taken_over")  # an operator answers (core.takeover)
        if message.event is not None:
            return await self._note_event(message, text)
        # Work that must wait for access control, such as downloading attachments: an
        # unauthorised sender never makes the gateway fetch anything.
        prepared = await channel.prepare_inbound(account, message)
        if prepared is None:
            return Outcome("handled", "channel_answered")
        if prepared is not message:
            message = prepared
            text = _message_text(message)
        body = text
        if message.reply_to_text:
            quoted_from = message.reply_to_sender or "unknown"
            body += f"\n\n[Replying to {quoted_from}]\n{message.reply_to_text}\n[/Replying]"
        if message.is_group:
            body = f"{_sender_label(message)}: {body}"
        if policy.message_prefix:
            body = f"{policy.message_prefix} {body}"
        body = format_with_history(pending, body)
        agent_id, agent = (
            self.select_agent(message)
            if self.select_agent is not None
            else (self.session.agent_id, self.agent)
        )
        key = await self._session_key(message, agent_id)
        turn = Turn(
            session_key=key,
            body=body,
            text=message.text,
            sender_id=message.sender_id,
            sender_name=message.sender_name,
            chat_type=message.chat_type,
            chat_id=message.chat_id,
            channel=message.channel,
            account_id=message.account_id,
            message_id=message.message_id,
            media=message.media,
            tools=tuple(self.tools(message)) if self.tools is not None else (),
            was_mentioned=was_mentioned,
            group_name=message.group_name,
            timestamp_ms=message.timestamp_ms,
            history=tuple(pending),
        )
        context = current_entry.get()
        fresh = context is not None and context.fresh
        # The common case, a new message's first attempt, needs no coroutine: nothing sent.
        if fresh and not self.outbox.has((message.channel, message.account_id, message.message_id)):
            statuses: dict[int, str] = {}
        else:
            statuses = await self._chunk_statuses(message, fresh)
        # A first attempt notes no intents (see core/outbox.py) unless nothing may be resent.
        intents = not self.resend_unknown or not fresh
        deliverer = Deliverer(self, message, channel, account, statuses, intents=intents)
        typing = self._typing_callback(channel, account, deliverer.target)
        async with typing_keepalive(typing, self.typing_interval) as presence:
            async for payload in agent.respond(turn):
                with presence.sending():
                    for piece in self._pieces(payload, policy, account, channel):
                        await deliverer.send(piece)
        deliverer.finish()
        if history_key is not None and pending:
            await self.history.clear(history_key)
        self.counters.replied += 1
        return Outcome("replied", "processed", key, tuple(deliverer.message_ids))

    async def _note_event(self, message: InboundMessage, text: str) -> Outcome:
        """Note a conversation event (a recalled message) in the transcript, no agent turn."""
        if self.select_agent is not None:
            agent_id = self.select_agent(message)[0]
        else:
            agent_id = self.session.agent_id
        key = await self._session_key(message, agent_id)
        if self.notes is not None:
            body = f"{_sender_label(message)}: {text}" if message.is_group else text
            await self.notes.append(key, [{"role": "user", "content": body}])
        return Outcome("handled", f"event_{message.event}", key)

    def _plain_session_key(
        self,
        message: InboundMessage,
        agent_id: str,
        exists: Callable[[str], bool] | None = None,
    ) -> str:
        options = self.session
        return session_key(
            message,
            dm_scope=options.dm_scope,
            agent_id=agent_id,
            main_key=options.main_key,
            group_scope=options.group_scope,
            identity_links=options.identity_links,
            session_exists=exists,
        )

    async def _session_key(self, message: InboundMessage, agent_id: str) -> str:
        key = self._plain_session_key(message, agent_id)
        if self.sessions is None or key in self._no_legacy:
            return key
        # A channel may keep an old release's DM session when only that one exists (zalouser's
        # group-kind DM key); a session "exists" when it has a stored transcript.
        legacy = legacy_dm_key(message, agent_id=agent_id)
        if legacy is None or legacy == key:
            return key
        found = set(await self.sessions.existing((key, legacy)))
        if legacy in found:
            return self._plain_session_key(message, agent_id, found.__contains__)
        if len(self._no_legacy) >= 100_000:
            self._no_legacy.clear()
        self._no_legacy.add(key)
        return key

    def _pieces(
        self,
        payload: ReplyPayload,
        policy: AccountPolicy,
        account: ChannelAccount,
        channel: Channel | None = None,
    ) -> list[ReplyPayload]:
        """Normalise one agent payload into the payloads to send (one per text chunk).

        A channel with ``chunks_replies`` (it formats Markdown into native styles and must
        chunk after formatting, as zalouser does) gets the whole text in one payload. The
        agent's ``reply_to_id`` (the message its answer quotes) stays on the first piece only.
        """
        text = "" if is_silent(payload.text) else payload.text
        media = payload.media_urls
        if not text.strip() and not media:
            return []
        text = apply_response_prefix(text, policy.response_prefix, identity=account.name)
        quoted = payload.reply_to_id
        if channel is not None and channel.chunks_replies:
            return [
                ReplyPayload(text=text, media_urls=media, kind=payload.kind, reply_to_id=quoted)
            ]
        chunks = chunk_text(text, policy.text_chunk_limit, policy.chunk_mode) if text else []
        if not chunks:
            return [ReplyPayload(media_urls=media, kind=payload.kind, reply_to_id=quoted)]
        if len(chunks) == 1 and chunks[0] == payload.text:
            return [payload]  # the common case: nothing to change, no new model to build
        return [
            ReplyPayload(
                text=chunk,
                media_urls=media if i == 0 else (),
                kind=payload.kind,
                reply_to_id=quoted if i == 0 else None,
            )
            for i, chunk in enumerate(chunks)
        ]

    async def _challenge(
        self, message: InboundMessage, channel: Channel, account: ChannelAccount
    ) -> Outcome:
        """Issue a pairing code once per request (gateway-behaviour §1.2, zalo-bot-api #25/#26).

        The code goes out only when the request was newly created. A send failure is logged
        and recorded, never raised: the request stays pending, so neither a retry nor a replay
        after a crash sends a second message (the operator still sees the code in
        ``zalogate pairing list``).
        """
        result = await self.pairing.request(
            message.channel,
            message.account_id,
            message.sender_id,
            sender_name=message.sender_name,
        )
        self.counters.challenged += 1
        if result.code is None:
            log.info(
                "%s: pairing request cap reached for account %s; ignoring sender %s",
                message.channel,
                message.account_id,
                message.sender_id,
            )
            return Outcome("challenged", "pairing_capped")
        if not result.created:
            return Outcome("challenged", "pairing_pending")
        deliverer = Deliverer(self, message, channel, account, {}, intents=False)
        text = pairing_challenge_text(message.channel, message.sender_id, result.code)
        try:
            await deliverer.send(ReplyPayload(text=text))
        except Exception as exc:
            deliverer.finish()
            log.warning(
                "%s: could not send the pairing code to %s (account %s): %s",
                message.channel,
                message.sender_id,
                message.account_id,
                describe_error(exc),
            )
            return Outcome("challenged", "pairing_send_failed")
        deliverer.finish()
        log.info(
            "pairing code issued to %s sender %s (account %s)",
            message.channel,
            message.sender_id,
            message.account_id,
        )
        return Outcome("challenged", "pairing_code_sent", None, tuple(deliverer.message_ids))
