"""The ``zalo`` channel: the official Zalo Bot API, by long-polling or by webhook.

``create_channel(context)`` is what the plugin entry point calls. The channel:

* lists the configured accounts (``accounts``; see :mod:`.accounts` for tokens);
* runs one monitor per account (``run``): a short ``getMe`` probe, then polling
  (:mod:`.polling`) or the webhook endpoint on the gateway's HTTP server (:mod:`.webhook`);
  every update goes to ``context.inbox.admit``;
* downloads inbound images when the pipeline processes a message, after access control
  (``prepare_inbound``, :mod:`.inbound`);
* sends replies (``send``, :mod:`.outbound`), shows "typing…" (``typing``), checks a token
  (``probe``), and answers directory questions (``directory_*``).

It also works without a gateway — for ``message send``, ``channels status --probe`` and
``directory`` — with a ``ChannelContext`` whose inbox does nothing and whose ``routes`` is None
(then only webhook monitors and hosted media are unavailable). Call ``aclose()`` when done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from zalogate.backoff import BackoffConfig
from zalogate.botapi import (
    ApiError,
    ConfigurationError,
    MalformedResponseError,
    RequestTimeoutError,
    UnauthorizedError,
    ZaloBot,
    ZaloBotError,
    resolve_base_url,
)
from zalogate.channels.media import MediaFetcher
from zalogate.channels.zalo.accounts import (
    RedactedSettings,
    ZaloAccount,
    config_model,
    resolve_zalo_accounts,
)
from zalogate.channels.zalo.directory import ZaloDirectory
from zalogate.channels.zalo.errors import (
    ZaloChannelError,
    ZaloConfigError,
    ZaloUnauthorizedError,
)
from zalogate.channels.zalo.inbound import normalize_update
from zalogate.channels.zalo.media_host import HostedMedia, media_prefix
from zalogate.channels.zalo.outbound import RetryPolicy, ZaloSender
from zalogate.channels.zalo.polling import PollingMonitor
from zalogate.channels.zalo.tools import zalo_tools
from zalogate.channels.zalo.webhook import WebhookOptions, WebhookRegistry, WebhookTarget
from zalogate.config import ZalogateConfig
from zalogate.core.access import (
    AccountPolicy,
    effective_group_policy,
    policy_from_settings,
)
from zalogate.core.agent import AgentTool
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    Directory,
    Presence,
    ProbeResult,
    ToolContext,
)
from zalogate.core.errors import DeliveryError
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.notices import ConversationNotices, only_unsupported
from zalogate.net.urlguard import Resolver, UrlGuard

__all__ = [
    "NO_SECTION_GROUP_WARNING",
    "OPEN_DM_WARNING",
    "OPEN_GROUP_WARNING",
    "ZaloChannel",
    "ZaloChannelOptions",
    "create_channel",
    "plugin_with_options",
]

log = logging.getLogger("zalogate.channels.zalo")

TEXT_LIMIT = 2000
OPTIONS_EXTRA = "zalo_options"
"""``ChannelContext.extras`` key under which a :class:`ZaloChannelOptions` may be passed."""
OPEN_DM_WARNING = (
    'Zalo dmPolicy is "open", allowing any user to message the bot without pairing. '
    'Set channels.zalo.dmPolicy to "pairing" or "allowlist" to restrict access.'
)
OPEN_GROUP_WARNING = (
    'Zalo groupPolicy is "open": any member of a group the bot is in can trigger it. '
    'Set channels.zalo.groupPolicy to "allowlist" and list the senders in groupAllowFrom.'
)
NO_SECTION_GROUP_WARNING = (
    "channels.zalo is not in the config (the bot token comes from ZALO_BOT_TOKEN): group "
    'messages are dropped (groupPolicy "allowlist" with an empty list; '
    "channels.defaults.groupPolicy is ignored). Write channels.zalo.groupPolicy (and "
    "groupAllowFrom) to change this."
)
_warned: set[str] = set()
"""Process-wide one-time warnings already logged (:func:`_warn_once`)."""


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("%s", message)


@dataclass(frozen=True, slots=True)
class ZaloChannelOptions:
    """Knobs that are not part of the user's config (tests, the sandbox, benchmarks).

    Attributes:
        env: Environment for ``ZALO_BOT_TOKEN`` / ``ZALO_API_URL`` (default ``os.environ``).
        allow_loopback_media: Inbound image downloads and outbound photo URLs may point at
            127.0.0.1 (a fake server on this machine). Off by default: SSRF guard.
        allow_private_media: Also allow private networks (implies loopback).
        resolver: DNS resolver for the SSRF guard (tests use one that never hits the network).
        webhook: Rate limit, body limits and trusted proxies of the webhook endpoint.
        polling_backoff: Pause after a failed poll (1 s to 30 s, jittered).
        send_retry: Retries of a single send.
        media_ttl: Seconds a hosted reply image stays fetchable.
        media_header_timeout: Seconds to wait for an inbound image's response headers.
        media_idle_timeout: Seconds without data before an inbound image download fails.
        startup_probe_timeout: The ``getMe`` check before a monitor starts.
        delete_webhook_timeout: Cap on ``deleteWebhook`` when a webhook monitor stops.
        poll_timeout: Overrides ``pollTimeoutSeconds`` for every account.
        media_retention_days: Downloaded inbound images older than this are deleted when a
            monitor starts (0 keeps them).
    """

    env: Mapping[str, str] | None = None
    allow_loopback_media: bool = False
    allow_private_media: bool = False
    resolver: Resolver | None = None
    webhook: WebhookOptions | None = None
    polling_backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(min_delay=1.0, max_delay=30.0)
    )
    send_retry: RetryPolicy = field(default_factory=RetryPolicy)
    media_ttl: float = 120.0
    media_header_timeout: float = 120.0
    media_idle_timeout: float = 30.0
    startup_probe_timeout: float = 2.5
    delete_webhook_timeout: float = 5.0
    poll_timeout: int | None = None
    media_retention_days: float = 7.0


def _account_settings(account: ZaloAccount) -> RedactedSettings:
    """The settings a ``ChannelAccount`` carries: the merged config, plus the token actually in
    use under ``resolvedBotToken`` when it came from a file or the environment, so that the
    gateway registers it with the log redaction like any configured secret."""
    settings = RedactedSettings(account.settings)
    token = account.token
    if token.token and token.source != "config":
        settings["resolvedBotToken"] = token.token
    return settings


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(slots=True)
class _MediaRoute:
    host: HostedMedia
    holders: set[str]


class ZaloChannel(Channel):
    """The ``zalo`` channel (see the module docstring)."""

    id = "zalo"
    text_limit = TEXT_LIMIT

    def __init__(self, context: ChannelContext, options: ZaloChannelOptions | None = None) -> None:
        extra = context.extras.get(OPTIONS_EXTRA)
        if options is None and isinstance(extra, ZaloChannelOptions):
            options = extra
        self.context = context
        self.options = options or ZaloChannelOptions()
        self._env: Mapping[str, str] = os.environ if self.options.env is None else self.options.env
        self._config = config_model(context.config, self._env)
        self._zalo = {a.account_id: a for a in resolve_zalo_accounts(self._config, env=self._env)}
        self._accounts = [
            ChannelAccount(
                channel=self.id,
                account_id=a.account_id,
                enabled=a.enabled,
                settings=_account_settings(a),
                name=a.name,
            )
            for a in self._zalo.values()
        ]
        self._guard = UrlGuard(
            allow_loopback=self.options.allow_loopback_media or self.options.allow_private_media,
            allow_private=self.options.allow_private_media,
            resolver=self.options.resolver,
        )
        self._notices = ConversationNotices()
        self._fetcher = MediaFetcher(
            context.state_dir / "media" / "zalo",
            guard=self._guard,
            header_timeout=self.options.media_header_timeout,
            idle_timeout=self.options.media_idle_timeout,
        )
        webhook_options = self.options.webhook or WebhookOptions(
            trusted_proxies=self._trusted_proxies()
        )
        self._webhooks = (
            WebhookRegistry(context.routes, webhook_options) if context.routes is not None else None
        )
        self._bots: dict[str, ZaloBot] = {}
        self._directory = ZaloDirectory(self)
        self._senders: dict[str, ZaloSender] = {}
        self._media_routes: dict[str, _MediaRoute] = {}
        self._account_hosts: dict[str, HostedMedia] = {}
        self._policies: dict[str, AccountPolicy] = {}
        self._pruned = False

    def __repr__(self) -> str:
        return f"ZaloChannel(accounts={[a.account_id for a in self._accounts]!r})"

    # ------------------------------------------------------------------ accounts

    @property
    def presence(self) -> Presence:
        return self

    @property
    def directory(self) -> Directory:
        return self._directory

    def accounts(self) -> Sequence[ChannelAccount]:
        """Every configured account, default first."""
        return list(self._accounts)

    def zalo_account(self, account: ChannelAccount | str) -> ZaloAccount:
        """The channel's view of an account (token source, mode, webhook settings).

        Raises:
            KeyError: No such account.
        """
        account_id = account if isinstance(account, str) else account.account_id
        found = self._zalo.get(account_id)
        if found is None:
            raise KeyError(f"no zalo account {account_id!r}")
        return found

    def account_snapshot(self, account: ChannelAccount) -> dict[str, Any]:
        """What ``channels status`` shows for an account without contacting Zalo (no secrets)."""
        zacct = self.zalo_account(account)
        return {
            "accountId": zacct.account_id,
            "name": zacct.name,
            "enabled": zacct.enabled,
            "configured": zacct.token.configured,
            "tokenSource": zacct.token.source,
            "tokenStatus": zacct.token.status,
            "tokenDetail": zacct.token.detail,
            "mode": zacct.mode,
            "dmPolicy": zacct.dm_policy,
            "groupPolicy": effective_group_policy(self.policy(account)),
            "warnings": self.status_warnings(account),
        }

    def status_warnings(self, account: ChannelAccount) -> list[str]:
        """Policy warnings for an enabled, configured account (open DMs, open groups)."""
        zacct = self.zalo_account(account)
        if not (zacct.enabled and zacct.token.configured):
            return []
        warnings: list[str] = []
        if zacct.dm_policy == "open":
            warnings.append(OPEN_DM_WARNING)
        if effective_group_policy(self.policy(account)) == "open":
            warnings.append(OPEN_GROUP_WARNING)
        if not zacct.section_written:
            warnings.append(NO_SECTION_GROUP_WARNING)
        return warnings

    def policy(self, account: ChannelAccount) -> AccountPolicy:
        """The account's access policy.

        :func:`~zalogate.core.access.policy_from_settings` with ``channels.defaults.groupPolicy``,
        ``messages.groupChat.historyLimit`` and ``messages.responsePrefix`` as fallbacks.
        Without a ``channels.zalo`` section (an account from ``ZALO_BOT_TOKEN`` alone) the
        group policy is ``allowlist`` and ``channels.defaults.groupPolicy`` is ignored: groups
        are fail-closed (``zalo-bot-api.md`` §6.2).
        """
        cached = self._policies.get(account.account_id)
        if cached is not None:
            return cached
        config = self._config or ZalogateConfig()
        zacct = self.zalo_account(account)
        settings: Mapping[str, Any] = zacct.settings
        defaults_group_policy = config.channels.defaults.group_policy
        if not zacct.section_written:
            settings = {**settings, "groupPolicy": "allowlist"}
            defaults_group_policy = None
        policy = policy_from_settings(
            self.id,
            settings,
            defaults_group_policy=defaults_group_policy,
            history_limit=config.messages.group_chat.history_limit,
            response_prefix=config.messages.response_prefix,
            text_chunk_limit=TEXT_LIMIT,
            overlay=self.context.access_overlay(account.account_id),
        )
        self._policies[account.account_id] = policy
        return policy

    def access_changed(self, account: ChannelAccount) -> None:
        """Drop the cached policy: the next message builds it with the console's edits."""
        self._policies.pop(account.account_id, None)

    def _trusted_proxies(self) -> tuple[str, ...]:
        return tuple(self._config.gateway.trusted_proxies) if self._config else ()

    # ------------------------------------------------------------------ clients

    def _base_url(self, zacct: ZaloAccount) -> str:
        """``apiBaseUrl``, else ``ZALO_API_URL`` of the channel's environment, else Zalo's."""
        if zacct.api_base_url:
            try:
                return resolve_base_url(zacct.api_base_url)
            except ConfigurationError as exc:
                raise ConfigurationError(str(exc).replace("base_url", "apiBaseUrl", 1)) from None
        return resolve_base_url(None, env=self._env)

    def _token(self, zacct: ZaloAccount) -> str:
        token = zacct.token.token
        if token:
            return token
        acct = zacct.account_id
        if zacct.token.status == "configured_unavailable":
            raise ZaloConfigError(f"[{acct}] Zalo bot token unavailable: {zacct.token.detail}")
        raise ZaloConfigError(
            f"No Zalo bot token configured for account {acct} (set "
            f"channels.zalo.accounts.{acct}.botToken or channels.zalo.accounts.{acct}.tokenFile)"
        )

    def _new_bot(self, zacct: ZaloAccount) -> ZaloBot:
        token = self._token(zacct)
        try:
            return ZaloBot(
                token,
                base_url=self._base_url(zacct),
                proxy=zacct.proxy,
                photo_guard=self._guard,
            )
        except ConfigurationError as exc:  # a bad token shape, API URL or proxy: fatal
            raise ZaloConfigError(f"[{zacct.account_id}] {exc}") from None

    def bot_for(self, zacct: ZaloAccount) -> ZaloBot:
        """The account's Bot API client (one per account, kept until ``aclose``)."""
        bot = self._bots.get(zacct.account_id)
        if bot is None:
            bot = self._bots[zacct.account_id] = self._new_bot(zacct)
        return bot

    def _sender(self, account_id: str) -> ZaloSender:
        sender = self._senders.get(account_id)
        if sender is None:
            sender = self._senders[account_id] = ZaloSender(
                account_id, retry=self.options.send_retry
            )
        return sender

    async def aclose(self) -> None:
        """Close the HTTP clients used for sends, probes and image downloads."""
        bots, self._bots = list(self._bots.values()), {}
        for bot in bots:
            await bot.aclose()
        await self._fetcher.aclose()

    # ------------------------------------------------------------------ monitor

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Monitor ``account`` (polling or webhook) until ``stop`` is set.

        Raises:
            ZaloConfigError: No usable token, or an invalid webhook config (``fatal``).
            ZaloUnauthorizedError: Zalo refused the token (``unauthorized``).
        """
        zacct = self.zalo_account(account)
        if not zacct.section_written:
            _warn_once("no-section-groups", NO_SECTION_GROUP_WARNING)
        await self._prune_media()
        bot = self._new_bot(zacct)
        try:
            name = await self._startup_probe(zacct, bot)
            log.info("[%s] starting provider (%s) mode=%s", zacct.account_id, name, zacct.mode)
            if stop.is_set():
                return
            if zacct.mode == "webhook":
                await self._run_webhook(zacct, bot, stop)
            else:
                monitor = PollingMonitor(
                    bot,
                    zacct.account_id,
                    lambda raw: self.accept_update(zacct, raw),
                    poll_timeout=self.options.poll_timeout or zacct.poll_timeout,
                    backoff=self.options.polling_backoff,
                    health=partial(self.context.health, zacct.account_id),
                )
                await monitor.run(stop)
        finally:
            await bot.aclose()

    async def _prune_media(self) -> None:
        days = self.options.media_retention_days
        if self._pruned or days <= 0:
            return
        self._pruned = True
        try:
            removed = await asyncio.to_thread(self._fetcher.prune, days * 86400.0)
        except OSError as exc:
            log.warning("zalo: could not prune old inbound media: %s", exc)
            return
        if removed:
            log.info("zalo: deleted %d inbound image(s) older than %g days", removed, days)

    async def _startup_probe(self, zacct: ZaloAccount, bot: ZaloBot) -> str:
        try:
            me = await bot.get_me(request_timeout=self.options.startup_probe_timeout)
        except UnauthorizedError as exc:
            raise ZaloUnauthorizedError(
                f"[{zacct.account_id}] Zalo refused the bot token: {exc}"
            ) from None
        except ZaloBotError as exc:
            log.warning("[%s] Zalo probe before start failed: %s", zacct.account_id, exc)
            return "unknown bot"
        return me.account_name or me.id

    async def _run_webhook(self, zacct: ZaloAccount, bot: ZaloBot, stop: asyncio.Event) -> None:
        url, secret, path = zacct.require_webhook()
        registry = self._webhooks
        if registry is None:
            raise ZaloConfigError(
                "Zalo webhook mode needs the gateway's HTTP server (run `zalogate gateway run`)"
            )
        acct = zacct.account_id
        prefix = media_prefix(path)
        try:
            self._acquire_media(acct, prefix, f"{_origin(url)}{prefix}")
        except Exception as exc:
            raise ZaloChannelError(f"Failed to register HTTP route: {prefix}") from exc
        try:
            registry.register(path, self._webhook_target(zacct, secret))
        except Exception as exc:
            self._release_media(acct)
            raise ZaloChannelError(f"Failed to register HTTP route: {path}") from exc
        webhook_set = False
        try:
            try:
                await bot.set_webhook(url, secret)
            except UnauthorizedError as exc:
                raise ZaloUnauthorizedError(f"[{acct}] Zalo refused the bot token: {exc}") from None
            webhook_set = True
            log.info("[%s] Zalo webhook mode ready at %s", acct, path)
            await stop.wait()
        finally:
            if webhook_set:
                await self._delete_webhook(acct, bot)
            registry.unregister(path, acct)
            self._release_media(acct)
            log.info("[%s] Zalo provider stopped mode=webhook", acct)

    def _webhook_target(self, zacct: ZaloAccount, secret: str) -> WebhookTarget:
        return WebhookTarget(zacct.account_id, secret, lambda raw: self.accept_update(zacct, raw))

    async def serve_inbound(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Accept the account's webhook POSTs until ``stop`` (cluster mode, every node);
        ``setWebhook`` stays with the node that runs the account."""
        zacct = self.zalo_account(account)
        if zacct.mode != "webhook" or self._webhooks is None:
            return
        _, secret, path = zacct.require_webhook()
        registry = self._webhooks
        acct = zacct.account_id
        registry.register(path, self._webhook_target(zacct, secret))
        try:
            await stop.wait()
        finally:
            registry.unregister(path, acct)

    async def _delete_webhook(self, acct: str, bot: ZaloBot) -> None:
        limit = self.options.delete_webhook_timeout
        try:
            async with asyncio.timeout(limit):
                # The client deadline is a little later, so that the cap is what fires.
                await bot.delete_webhook(request_timeout=limit + 1.0)
        except (TimeoutError, RequestTimeoutError):
            log.warning("[%s] Zalo webhook delete failed: timed out after %dms", acct, limit * 1000)
        except ZaloBotError as exc:
            log.warning("[%s] Zalo webhook delete failed: %s", acct, exc)

    def _acquire_media(self, account_id: str, prefix: str, public_base: str) -> None:
        route = self._media_routes.get(prefix)
        if route is None:
            host = HostedMedia(public_base, ttl=self.options.media_ttl)
            routes = self.context.routes
            if routes is not None:
                routes.mount(prefix, host, name="zalo-hosted-media")
            route = self._media_routes[prefix] = _MediaRoute(host, set())
        route.holders.add(account_id)
        self._account_hosts[account_id] = route.host

    def _release_media(self, account_id: str) -> None:
        self._account_hosts.pop(account_id, None)
        for prefix, route in list(self._media_routes.items()):
            route.holders.discard(account_id)
            if not route.holders:
                del self._media_routes[prefix]
                if self.context.routes is not None:
                    self.context.routes.unmount(prefix)

    async def accept_update(self, zacct: ZaloAccount, raw: dict[str, Any]) -> None:
        """Normalise one raw update and admit it to the inbox (or log why it is ignored).

        Raises whatever the inbox raises when it cannot journal the message.
        """
        try:
            result = normalize_update(raw, zacct.account_id)
        except Exception as exc:  # a poison update must never block the poll loop
            log.warning(
                "[%s] Zalo update dropped (invalid-event: %s)",
                zacct.account_id,
                type(exc).__name__,
            )
            return
        message = result.message
        if message is None:
            acct, sender = zacct.account_id, result.sender_id or "unknown"
            if result.ignored == "sticker":
                log.info("[%s] Received sticker from %s", acct, sender)
            elif result.ignored == "unsupported":
                log.info("[%s] Received unsupported message type from %s", acct, sender)
            elif result.ignored == "empty-text":
                log.debug("[%s] Ignored empty text from %s", acct, sender)
            else:
                log.warning("[%s] Zalo update dropped (%s)", acct, result.ignored)
            return
        await self.context.inbox.admit(message)

    # ------------------------------------------------------------------ processing

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage | None:
        """Download the message's images (called by the pipeline after access control); a
        kind the agent cannot use gets one notice per conversation instead (None)."""
        zacct = self.zalo_account(account)
        if only_unsupported(message):
            await self._notices.answer(self, account, message, zacct.unsupported_reply)
            return None
        return await self._fetcher.resolve(
            message, max_bytes=zacct.media_max_bytes, proxy=zacct.proxy
        )

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        """Deliver ``reply`` to ``target`` (a chat id, ``zalo:<id>``, ``group:<id>``...).

        Raises:
            DeliveryError: Nothing went out (no token, a bad target, Zalo refused it).
        """
        zacct = self.zalo_account(account)
        try:
            bot = self.bot_for(zacct)
        except ZaloConfigError as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        return await self._sender(zacct.account_id).send(
            bot,
            target,
            reply,
            host=self._account_hosts.get(zacct.account_id),
            max_media_bytes=zacct.media_max_bytes,
        )

    async def typing(self, account: ChannelAccount, target: str) -> None:
        """Show "typing…" in ``target`` (5 s limit; failures are the caller's to ignore)."""
        from zalogate.channels.zalo.outbound import chat_id_of

        bot = self.bot_for(self.zalo_account(account))
        await bot.send_chat_action(chat_id_of(target), "typing", request_timeout=5.0)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        """``zalo_send`` for an enabled account with a usable token (the ``Tools`` capability)."""
        zacct = self.zalo_account(account)
        if not (zacct.enabled and zacct.token.token):
            return []
        return zalo_tools(self, account, context)

    # ------------------------------------------------------------------ probe, directory

    async def probe(self, account: ChannelAccount, *, timeout: float = 5.0) -> ProbeResult:  # noqa: ASYNC109
        """``getMe`` within ``timeout`` seconds: the bot's name, the mode, policy warnings."""
        zacct = self.zalo_account(account)
        identity: dict[str, Any] = {"mode": zacct.mode, "tokenSource": zacct.token.source}
        warnings = tuple(self.status_warnings(account))
        if not zacct.token.token:
            detail = zacct.token.detail if zacct.token.configured else None
            return ProbeResult(
                ok=False,
                detail=detail or "No token provided",
                identity=identity,
                warnings=warnings,
                elapsed_ms=0.0,
            )
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                me = await self.bot_for(zacct).get_me(request_timeout=timeout)
        except (TimeoutError, RequestTimeoutError):
            detail = f"Request timed out after {int(timeout * 1000)}ms"
            return self._probe_failure(detail, identity, warnings, started)
        except MalformedResponseError:
            return self._probe_failure(
                "Invalid response from Zalo API", identity, warnings, started
            )
        except ApiError as exc:
            return self._probe_failure(exc.description, identity, warnings, started)
        except ZaloBotError as exc:
            return self._probe_failure(str(exc), identity, warnings, started)
        identity.update(
            {
                "id": me.id,
                "account_name": me.account_name,
                "account_type": me.account_type,
                "can_join_groups": me.can_join_groups,
            }
        )
        return ProbeResult(
            ok=True,
            detail=f"bot {me.account_name or me.id}",
            identity=identity,
            warnings=warnings,
            elapsed_ms=(time.monotonic() - started) * 1000,
        )

    @staticmethod
    def _probe_failure(
        detail: str, identity: dict[str, Any], warnings: Sequence[str], started: float
    ) -> ProbeResult:
        return ProbeResult(
            ok=False,
            detail=detail,
            identity=identity,
            warnings=warnings,
            elapsed_ms=(time.monotonic() - started) * 1000,
        )


def create_channel(
    context: ChannelContext, options: ZaloChannelOptions | None = None
) -> ZaloChannel:
    """Build the ``zalo`` channel (the plugin entry point calls this).

    Args:
        context: What the runtime lends the channel; ``inbox`` may be a no-op and ``routes``
            None for CLI sends and probes.
        options: Non-config knobs; default ``context.extras["zalo_options"]`` if set.
    """
    return ZaloChannel(context, options)


def plugin_with_options(options: ZaloChannelOptions) -> ChannelPlugin:
    """A ``zalo`` plugin whose channels get ``options`` (e.g. ``Gateway(channels=[...])`` in
    the sandbox, where images come from a fake on 127.0.0.1)."""
    return ChannelPlugin(
        id="zalo",
        label="Zalo Bot API",
        create=lambda context: create_channel(context, options),
    )
