"""The ``zalouser`` channel: a personal Zalo account (unofficial web protocol).

``create_channel(context)`` is what the plugin entry point calls. The channel:

* lists the configured accounts and their credential profiles (:mod:`.accounts`); sessions
  live in ``<state_dir>/credentials/zalouser/<profile>.json`` (:mod:`.credentials`);
* runs one monitor per account (``run``): a cookie login from the saved session, the startup
  name -> id resolution of ``allowFrom``/``groups`` (:mod:`.resolution`), then the websocket
  listener (:mod:`.monitor`) whose messages go to ``context.inbox.admit``;
* after access control (``prepare_inbound``) downloads photos, voice, video and files and
  sends delivered + seen receipts (best effort: a stranger never learns the account is automated);
* formats and sends replies (``send``: Markdown -> Zalo styles, chunked after formatting,
  ``chunks_replies = True``), links, reactions (``react``) and "typing…";
* answers ``probe``, ``account_snapshot``, the directory, ``login_interactive`` / ``logout``
  and offers the ``zalouser`` agent tool.

It also works without a gateway (``message send``, ``channels status --probe``,
``directory``, ``channels login``): then the client logs in from the saved session on first
use. Call ``aclose()`` when done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from zalogate.channels.zalouser.account_events import AccountEvents
from zalogate.channels.zalouser.accounts import ZalouserAccount, resolve_zalouser_accounts
from zalogate.channels.zalouser.attachments import AttachmentFetcher
from zalogate.channels.zalouser.catch_up import CatchUpCursor
from zalogate.channels.zalouser.connection import AccountConnection
from zalogate.channels.zalouser.cookie_login import cookie_login
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.directory import ZalouserDirectory, group_facts_lookup
from zalogate.channels.zalouser.errors import (
    LOGIN_HINT,
    NeedsLoginError,
    ProfileInUseError,
)
from zalogate.channels.zalouser.governor import FriendIds, GovernorStatus, SendGovernor
from zalogate.channels.zalouser.governor_store import GovernorJournal
from zalogate.channels.zalouser.inbound import AnsweredMessages, GroupInfoCache, quote_for
from zalogate.channels.zalouser.login import qr_login
from zalogate.channels.zalouser.media import MediaLoader
from zalogate.channels.zalouser.monitor import AccountMonitor, ListenerState
from zalogate.channels.zalouser.options import OPTIONS_EXTRA, ZalouserChannelOptions
from zalogate.channels.zalouser.outbound import ZalouserSender, thread_of
from zalogate.channels.zalouser.reactions import react
from zalogate.channels.zalouser.receipts import ReceiptBatcher
from zalogate.channels.zalouser.resolution import (
    NameResolution,
    load_resolution,
    resolve_names,
    save_resolution,
)
from zalogate.channels.zalouser.session_sync import SessionSync
from zalogate.channels.zalouser.tools import zalouser_tools
from zalogate.config import ZalogateConfig
from zalogate.core.access import AccountPolicy, effective_group_policy, policy_from_settings
from zalogate.core.account_lookup import account_id_of, find_account
from zalogate.core.agent import AgentTool
from zalogate.core.channel import (
    AccountCounter,
    Channel,
    ChannelAccount,
    ChannelContext,
    GroupMembers,
    LinkSender,
    Login,
    LoginUI,
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
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.notices import ConversationNotices, only_unsupported
from zalogate.core.pipeline import reply_target
from zalogate.core.probe_timing import timed_probe_result
from zalogate.net.urlguard import UrlGuard
from zalogate.personal.errors import ZaloPersonalError

__all__ = [
    "NOT_AUTHENTICATED",
    "OPEN_DM_WARNING",
    "OPEN_GROUP_WARNING",
    "OPTIONS_EXTRA",
    "ZalouserChannel",
    "ZalouserChannelOptions",
    "create_channel",
]

log = logging.getLogger("zalogate.channels.zalouser")

TEXT_LIMIT = 2000
NOT_AUTHENTICATED = f"Not authenticated (no saved Zalo session): {LOGIN_HINT}"
OPEN_DM_WARNING = (
    'Zalo Personal dmPolicy is "open", allowing any user to message the account without'
    ' pairing. Set channels.zalouser.dmPolicy to "pairing" or "allowlist".'
)
OPEN_GROUP_WARNING = (
    'Zalo Personal groupPolicy is "open": any member of any group the account is in can'
    ' trigger the agent. Set channels.zalouser.groupPolicy to "allowlist" and list the groups'
    " in groups (and the senders in groupAllowFrom)."
)
_LISTENING = frozenset({"connecting", "connected", "reconnecting"})


class ZalouserChannel(Channel):
    """The ``zalouser`` channel (see the module docstring)."""

    id = "zalouser"
    text_limit = TEXT_LIMIT
    chunks_replies = True
    """The channel chunks after converting Markdown to Zalo styles (the pipeline hands ``send``
    whole replies)."""

    def __init__(
        self, context: ChannelContext, options: ZalouserChannelOptions | None = None
    ) -> None:
        extra = context.extras.get(OPTIONS_EXTRA)
        if options is None and isinstance(extra, ZalouserChannelOptions):
            options = extra
        self.context = context
        self.options = options or ZalouserChannelOptions()
        env = os.environ if self.options.env is None else self.options.env
        self._zalouser = {
            a.account_id: a for a in resolve_zalouser_accounts(context.config, env=env)
        }
        self._accounts = [
            ChannelAccount(
                channel=self.id,
                account_id=a.account_id,
                enabled=a.enabled,
                settings=a.settings,
                name=a.name,
            )
            for a in self._zalouser.values()
        ]
        self.credentials = CredentialStore(context.state_dir)
        vault = context.shared.sessions if context.shared is not None else None
        self._sessions = SessionSync(self.credentials, vault)
        self.credentials.on_change = self._sessions.changed  # a cluster shares the session
        guard = UrlGuard(
            allow_loopback=self.options.allow_loopback_media or self.options.allow_private_media,
            allow_private=self.options.allow_private_media,
            resolver=self.options.resolver,
        )
        self._fetcher = AttachmentFetcher(context.state_dir / "media" / "zalouser", guard=guard)
        self._directory = ZalouserDirectory(self.connection, self.options.lookup_timeout)
        self._media = MediaLoader(guard)
        self._connections: dict[str, AccountConnection] = {}
        self._senders: dict[str, ZalouserSender] = {}
        self._groups: dict[str, GroupInfoCache] = {}
        self._listeners: dict[str, ListenerState] = {}
        self._policies: dict[str, AccountPolicy] = {}
        self._active_profiles: dict[str, str] = {}
        self._batchers: dict[str, ReceiptBatcher] = {}
        self._governors: dict[str, SendGovernor] = {}
        self._notices = ConversationNotices()
        self._answering = AnsweredMessages()

    def __repr__(self) -> str:
        return f"ZalouserChannel(accounts={[a.account_id for a in self._accounts]!r})"

    # ------------------------------------------------------------------ accounts

    @property
    def presence(self) -> Presence:
        return self

    @property
    def directory(self) -> ZalouserDirectory:
        return self._directory

    @property
    def group_members(self) -> GroupMembers:
        return self._directory

    @property
    def user_profiles(self) -> UserProfiles:
        return self._directory

    @property
    def stickers(self) -> Stickers:
        return self

    @property
    def receipts(self) -> ReadReceipts:
        return self

    @property
    def reply_contexts(self) -> ReplyContexts:
        return self._answering

    @property
    def login(self) -> Login:
        return self

    @property
    def reactions(self) -> Reactions:
        return self

    @property
    def links(self) -> LinkSender:
        return self

    @property
    def session_import(self) -> SessionImport:
        return self

    def accounts(self) -> Sequence[ChannelAccount]:
        """Every configured account, default first."""
        return list(self._accounts)

    def zalouser_account(self, account: ChannelAccount | str) -> ZalouserAccount:
        """The channel's view of an account (profile, hosts, limits).

        Raises:
            KeyError: No such account.
        """
        return find_account(self._zalouser, account, self.id)

    def profile_of(self, account: ChannelAccount | str) -> str:
        """The credential profile of an account."""
        return self.zalouser_account(account).profile

    def has_session(self, account: ChannelAccount | str) -> bool:
        """True when the account's profile has a saved session (no network)."""
        account_id = account if isinstance(account, str) else account.account_id
        live = self._connections.get(account_id)
        if live is not None and live.logged_in:
            return True  # asked for every message (agent tools): skip the file system
        return self.credentials.exists(self.profile_of(account))

    def connection(self, account: ChannelAccount | str) -> AccountConnection:
        """The shared client of an account (logged in on first use)."""
        zacct = self.zalouser_account(account)
        found = self._connections.get(zacct.account_id)
        if found is None:
            found = self._connections[zacct.account_id] = AccountConnection(
                zacct, self.credentials, transport=self.options.transport
            )
        return found

    def governor(self, account: ChannelAccount | str) -> SendGovernor:
        """The account's send governor (its :meth:`~SendGovernor.status` feeds metrics)."""
        zacct = self.zalouser_account(account)
        found = self._governors.get(zacct.account_id)
        if found is None:
            journal = GovernorJournal(self.context.store, zacct.account_id)
            found = SendGovernor(zacct.account_id, zacct.limits, journal=journal)
            self._governors[zacct.account_id] = found
        return found

    def send_status(self, account: ChannelAccount | str) -> GovernorStatus:
        """The send governor's counters and pause of an account (no network)."""
        return self.governor(account).status()

    def account_counters(self, account: ChannelAccount) -> Sequence[AccountCounter]:
        """The send governor's counters (``zalogate_channel_send_*`` in ``/metrics``)."""
        return self.send_status(account).counters()

    def _sender(self, account: ChannelAccount | str) -> ZalouserSender:
        zacct = self.zalouser_account(account)
        sender = self._senders.get(zacct.account_id)
        if sender is None:
            connection = self.connection(zacct.account_id)

            async def friend_ids() -> frozenset[str]:
                friends = await connection.call(lambda api: api.friends())
                return frozenset(f.uid for f in friends)

            async def members(group_id: str) -> Sequence[tuple[str, str]]:
                facts = await self._group_cache(zacct.account_id).get(group_id)
                return facts.member_ids if facts is not None else ()

            sender = self._senders[zacct.account_id] = ZalouserSender(
                connection,
                self._media,
                retry=self.options.send_retry,
                listening=lambda: self.listener_state(zacct.account_id).state in _LISTENING,
                governor=self.governor(zacct.account_id),
                friends=FriendIds(friend_ids),
                members=members,
            )
        return sender

    def _group_cache(self, account_id: str) -> GroupInfoCache:
        cache = self._groups.get(account_id)
        if cache is None:
            cache = self._groups[account_id] = GroupInfoCache(
                group_facts_lookup(self.connection(account_id)), ttl_s=self.options.group_info_ttl
            )
        return cache

    def listener_state(self, account: ChannelAccount | str) -> ListenerState:
        """The listener state of an account in this process."""
        return self._listeners.setdefault(account_id_of(account), ListenerState())

    # ------------------------------------------------------------------ policy, status

    def _build_policy(
        self, zacct: ZalouserAccount, resolution: NameResolution | None
    ) -> AccountPolicy:
        config: ZalogateConfig = self.context.config
        group_chat = config.messages.group_chat
        settings = resolution.apply(zacct.settings) if resolution else zacct.settings
        return policy_from_settings(
            self.id,
            settings,
            defaults_group_policy=config.channels.defaults.group_policy,
            group_name_ids=resolution.group_name_ids if resolution else None,
            mention_patterns=(*zacct.mention_patterns, *(group_chat.mention_patterns or ())),
            history_limit=group_chat.history_limit,
            response_prefix=config.messages.response_prefix,
            text_chunk_limit=zacct.text_limit,
            overlay=self.context.access_overlay(zacct.account_id),
        )

    def access_changed(self, account: ChannelAccount) -> None:
        """Rebuild the cached policy with the console's edits (and the saved name resolution)."""
        if account.account_id in self._policies:
            zacct = self.zalouser_account(account)
            resolved = load_resolution(self.context.state_dir, zacct.account_id, zacct.settings)
            self._policies[zacct.account_id] = self._build_policy(zacct, resolved)

    def policy(self, account: ChannelAccount) -> AccountPolicy:
        """The account's access policy (names resolved to ids once the monitor started).

        :func:`~zalogate.core.access.policy_from_settings` with the config's fallbacks, the
        account's ``mentionPatterns``, the start-up resolution and the console's edits.
        """
        cached = self._policies.get(account.account_id)
        if cached is not None:
            return cached
        zacct = self.zalouser_account(account)
        # Before the monitor resolved names (a message replayed at start-up, a one-off
        # command): the last resolution saved for this very config, if any.
        saved = load_resolution(self.context.state_dir, zacct.account_id, zacct.settings)
        if saved is not None:
            policy = self._policies[zacct.account_id] = self._build_policy(zacct, saved)
            return policy
        return self._build_policy(zacct, None)

    def status_warnings(self, account: ChannelAccount) -> list[str]:
        """Login and policy warnings for an enabled account."""
        zacct = self.zalouser_account(account)
        if not zacct.enabled:
            return []
        warnings: list[str] = []
        if not self.has_session(account):
            warnings.append(NOT_AUTHENTICATED)
        if zacct.dm_policy == "open":
            warnings.append(OPEN_DM_WARNING)
        if effective_group_policy(self.policy(account)) == "open":
            warnings.append(OPEN_GROUP_WARNING)
        return warnings

    def account_snapshot(self, account: ChannelAccount) -> dict[str, Any]:
        """What ``channels status`` shows without contacting Zalo (no secrets)."""
        zacct = self.zalouser_account(account)
        stored = None
        try:
            stored = self.credentials.load(zacct.profile)
        except ValueError as exc:
            log.debug("credentials of %s unreadable: %s", zacct.profile, exc)
        state = self.listener_state(account)
        return {
            "accountId": zacct.account_id,
            "name": zacct.name,
            "enabled": zacct.enabled,
            "configured": stored is not None,
            "mode": "qr",
            "tokenSource": "session" if stored is not None else "none",
            "profile": zacct.profile,
            "profileSource": zacct.profile_source,
            "userId": stored.uid if stored else None,
            "displayName": stored.display_name if stored else None,
            "lastUsedAt": stored.last_used_at if stored else None,
            "listener": state.state,
            "catchUp": state.catch_up,
            "dmPolicy": zacct.dm_policy,
            "groupPolicy": effective_group_policy(self.policy(account)),
            "proxy": zacct.proxy is not None,
            "sends": self.send_status(account).to_json(),
            "warnings": self.status_warnings(account),
        }

    # ------------------------------------------------------------------ monitor

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Monitor ``account`` until ``stop`` is set.

        Raises:
            NeedsLoginError: No saved session, or Zalo refused it (``unauthorized``).
            DuplicateConnectionError: Zalo Web was opened elsewhere (``fatal``).
            ProfileInUseError: Another account listens with the same profile (``fatal``).
            ListenerStoppedError: The listener ended; restart with backoff.
        """
        zacct = self.zalouser_account(account)
        holder = self._active_profiles.get(zacct.profile.lower())
        if holder is not None and holder != zacct.account_id:
            raise ProfileInUseError(
                f"[{zacct.account_id}] credential profile {zacct.profile!r} is already used by"
                f" account {holder!r}; Zalo allows one web listener per account (set a distinct"
                f" channels.zalouser.accounts.{zacct.account_id}.profile)"
            )
        self._active_profiles[zacct.profile.lower()] = zacct.account_id
        state = self.listener_state(account)
        await self.governor(account).restore()  # status shows the saved counters at once
        await self._sessions.pull(zacct.profile)  # the last holder's session (a cluster)
        try:
            connection = self.connection(account)
            client = await connection.client(touch=True)
            await connection.learn_own_name(self.options.lookup_timeout)
            resolution = await resolve_names(
                client.api, zacct.settings, account_id=zacct.account_id
            )
            self._policies[zacct.account_id] = self._build_policy(zacct, resolution)
            if resolution.users or resolution.group_name_ids:
                save_resolution(
                    self.context.state_dir, zacct.account_id, zacct.settings, resolution
                )
            log.info(
                "[%s] starting zalouser provider (%s, uid %s, profile %s)",
                zacct.account_id,
                connection.own_name or "unknown name",
                connection.own_uid,
                zacct.profile,
            )
            if stop.is_set():
                return
            governor, admit = self.governor(account), self.context.inbox.admit

            async def admit_noting(message: InboundMessage) -> Any:
                governor.note_inbound(message.chat_id)  # replying there starts nothing new
                return await admit(message)

            monitor = AccountMonitor(
                connection,
                admit_noting,
                self._group_cache(zacct.account_id),
                state,
                self.options.monitor,
                on_control=self._account_events(account).handle,
                catch_up=zacct.catch_up,
                cursor=CatchUpCursor(self.context.store, zacct.account_id),
                health=partial(self.context.health, zacct.account_id),
                reconnected=partial(self.context.reconnected, zacct.account_id),
            )
            await monitor.run(stop)
        except NeedsLoginError:
            state.state, state.detail = "stopped", "needs QR login"
            raise
        finally:
            if self._active_profiles.get(zacct.profile.lower()) == zacct.account_id:
                del self._active_profiles[zacct.profile.lower()]

    def _account_events(self, account: ChannelAccount) -> AccountEvents:
        zacct = self.zalouser_account(account)
        shared = self.context.shared_state()

        async def greet(user_id: str, text: str) -> None:
            await self.send(account, user_id, ReplyPayload(text=text))

        return AccountEvents(
            zacct.account_id,
            zacct.settings,
            call=self.connection(account).call,
            policy=lambda: self.policy(account),
            approved=lambda: shared.pairing.allowed_senders(self.id, zacct.account_id),
            greet=greet,
            history=shared.history,
            groups=self._group_cache(zacct.account_id),
            admit=self.context.inbox.admit,
        )

    # ------------------------------------------------------------------ processing

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        return await self.prepare_inbound_via(self, account, message)

    async def prepare_inbound_via(
        self, via: Channel, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        """After access control: delivered + seen receipts, download attachments; a kind
        the agent cannot use gets one notice per conversation instead (None). Receipts and
        the notice go through ``via`` (in a cluster: the node holding the session)."""
        zacct = self.zalouser_account(account)
        self.governor(account).note_inbound(message.chat_id)
        if self.options.receipts and via.receipts is not None:
            await via.receipts.acknowledge(account, message)
        self._answering.put(account, reply_target(message), message)
        if only_unsupported(message):
            await self._notices.answer(via, account, message, zacct.unsupported_reply)
            return None
        cap, proxy = zacct.media_max_bytes, zacct.proxy
        message = await self._fetcher.resolve(message, max_bytes=cap, proxy=proxy)
        return await self._fetcher.resolve_files(message, max_bytes=cap, proxy=proxy)

    async def acknowledge(self, account: ChannelAccount, message: InboundMessage) -> None:
        """Queue ``message``'s delivered + seen receipts (sent batched, best effort)."""
        batcher = self._batchers.get(account.account_id)
        if batcher is None:
            batcher = self._batchers[account.account_id] = ReceiptBatcher(
                self.connection(account).call,
                account.account_id,
                delay_s=self.options.receipt_delay,
                timeout_s=self.options.lookup_timeout,
            )
        batcher.add_message(message)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        """Deliver ``reply`` to ``target`` (``<user id>``, ``group:<id>``, ``zlu:g-…``...).

        Raises:
            DeliveryError: Nothing went out.
        """
        zacct = self.zalouser_account(account)
        policy = self.policy(account)
        answering = self._answering.take(account, target)
        return await self._sender(account).send(
            target,
            reply,
            limit=min(policy.text_chunk_limit, TEXT_LIMIT),
            mode=policy.chunk_mode,
            max_media_bytes=zacct.media_max_bytes,
            quote=quote_for(answering, reply.reply_to_id, zacct.quotes),
        )

    async def send_link(
        self, account: ChannelAccount, target: str, url: str, caption: str = ""
    ) -> DeliveryReceipt:
        """Send ``url`` with Zalo's link preview, ``caption`` before it."""
        return await self._sender(account).send_link(target, url, caption)

    async def send_sticker(
        self, account: ChannelAccount, target: str, sticker: str
    ) -> DeliveryReceipt:
        """Send a sticker (its id, or a keyword: Zalo's best suggestion)."""
        return await self._sender(account).send_sticker(target, sticker)

    async def typing(self, account: ChannelAccount, target: str) -> None:
        """Show "typing…" in ``target``."""
        thread_id, thread_type = thread_of(target)
        async with asyncio.timeout(5.0):
            await self.connection(account).call(
                lambda api: api.send_typing(thread_id, thread_type=thread_type)
            )

    async def react(
        self,
        account: ChannelAccount,
        target: str,
        message_id: str,
        reaction: str,
        *,
        remove: bool = False,
    ) -> None:
        """React to a message (see :func:`.reactions.react`)."""
        await react(self.connection(account), target, message_id, reaction, remove=remove)

    async def probe(self, account: ChannelAccount, *, timeout: float | None = None) -> ProbeResult:  # noqa: ASYNC109
        """Log in with the saved session and ask for the own profile (bounded in time)."""
        zacct = self.zalouser_account(account)
        limit = max(1.0, self.options.probe_timeout if timeout is None else timeout)
        warnings = tuple(self.status_warnings(account))
        state = self.listener_state(account)
        identity: dict[str, Any] = {"profile": zacct.profile, "listener": state.state}
        if not self.has_session(account):
            return ProbeResult(
                ok=False, detail=NOT_AUTHENTICATED, identity=identity, warnings=warnings
            )
        started = time.monotonic()
        failed = partial(
            timed_probe_result, ok=False, identity=identity, warnings=warnings, started=started
        )
        connection = self.connection(account)
        probe_connection = (
            connection
            if connection.logged_in
            else AccountConnection(zacct, self.credentials, transport=self.options.transport)
        )
        try:
            async with asyncio.timeout(limit):
                profile = await probe_connection.call(lambda api: api.own_profile())
        except TimeoutError:
            detail = f"Not authenticated (timed out after {limit:g} s)"
            return failed(detail=detail)
        except (NeedsLoginError, ZaloPersonalError) as exc:
            return failed(detail=str(exc))
        finally:
            if probe_connection is not connection:
                await probe_connection.forget()
        identity.update(userId=profile.uid, displayName=profile.display_name, id=profile.uid)
        identity.update({"avatar": profile.avatar} if profile.avatar else {})
        return timed_probe_result(
            ok=True,
            detail=f"logged in as {profile.display_name or profile.uid}",
            identity=identity,
            warnings=warnings,
            started=started,
        )

    # ------------------------------------------------------------------ login

    async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
        """``channels login``: QR login for the account's profile (see :mod:`.login`)."""
        zacct = self.zalouser_account(account)
        line = await qr_login(
            zacct,
            self.credentials,
            ui,
            wait_s=self.options.login_wait,
            qr_timeout_s=self.options.qr_timeout,
            transport=self.options.transport,
        )
        await self.connection(account).forget()
        return line

    async def import_session(self, account: ChannelAccount, path: Path) -> str:
        """``channels login --cookies FILE`` (see :mod:`.cookie_login`)."""
        zacct = self.zalouser_account(account)
        line = await cookie_login(zacct, self.credentials, path, transport=self.options.transport)
        await self.connection(account).forget()
        return line

    async def logout(self, account: ChannelAccount) -> bool:
        """Forget the account's saved session; True if there was one."""
        await self.connection(account).forget()
        removed = self.credentials.delete(self.profile_of(account))
        await self._sessions.push(self.profile_of(account))  # a cluster forgets it too
        if removed:
            log.info("[%s] zalouser session cleared", account.account_id)
        return removed

    async def reset_account(self, account: ChannelAccount) -> None:
        """Drop the account's client without saving its cookies (a restart or stop after
        ``channels login``/``logout``: it cannot write over a session saved meanwhile)."""
        await self.connection(account).forget()

    # ------------------------------------------------------------------ tools

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        return zalouser_tools(self, self, account, context)

    def agent_tools_via(
        self, via: Channel, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """The ``zalouser`` tool (see :mod:`.tools`), acting through ``via``."""
        return zalouser_tools(self, via, account, context)

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Send queued receipts, save refreshed cookies and close every client."""
        batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            await batcher.flush()
        for governor in self._governors.values():
            await governor.flush()
        connections, self._connections = list(self._connections.values()), {}
        self._senders.clear()
        for connection in connections:
            await connection.aclose()
        await self._fetcher.aclose()
        await self._media.aclose()
        await self._sessions.aclose()


def create_channel(
    context: ChannelContext, options: ZalouserChannelOptions | None = None
) -> ZalouserChannel:
    """Build the ``zalouser`` channel (the plugin entry point calls this).

    Args:
        context: What the runtime lends the channel; ``inbox`` may refuse messages for
            one-off commands.
        options: Non-config knobs; default ``context.extras["zalouser_options"]`` if set.
    """
    return ZalouserChannel(context, options)
