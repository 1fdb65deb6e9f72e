"""``ZalooaChannel``: Zalo Official Accounts through the OA Open API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx2

from zalogate.channels.media import MediaFetcher, media_max_bytes
from zalogate.channels.zalooa.accounts import OAAccount, configured_accounts
from zalogate.channels.zalooa.login import OALogin
from zalogate.channels.zalooa.traits import CHANNEL_ID
from zalogate.channels.zalooa.webhook import OAWebhook
from zalogate.channels.zalooa.window import Window
from zalogate.core.agent import AgentTool, FunctionTool
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    Directory,
    DirectoryEntry,
    Login,
    ProbeResult,
    Reactions,
    Receive,
    RouteRegistrar,
    Scope,
    Send,
    ToolContext,
)
from zalogate.core.chunking import chunk_text
from zalogate.core.errors import ChannelError, DeliveryError, FailureKind
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.net.download import Downloader, DownloadError
from zalogate.net.urlguard import UnsafeUrlError, UrlGuard
from zalogate.oa import (
    TEXT_LIMIT,
    UPLOAD_LIMITS,
    OutsideWindowError,
    ReauthorizationRequiredError,
    ZaloOAError,
)
from zalogate.oa.client import UploadKind

__all__ = ["LOOPBACK_MEDIA_EXTRA", "ZalooaChannel"]

LOOPBACK_MEDIA_EXTRA = "zalooa.allow_loopback_media"
"""``ChannelContext.extras`` key: fetch media from 127.0.0.1 (sandbox, tests)."""

_log = logging.getLogger("zalogate.channels.zalooa")


def _delivery_error(exc: ZaloOAError, sent: list[str]) -> DeliveryError:
    if isinstance(exc, ReauthorizationRequiredError):
        kind = FailureKind.UNAUTHORIZED
    elif isinstance(exc, OutsideWindowError):
        return DeliveryError(
            f"outside the OA's 7-day reply window ({exc})", retryable=False, partial_ids=sent
        )
    else:
        kind = FailureKind.RETRYABLE if exc.retryable else FailureKind.FATAL
    return DeliveryError(str(exc), kind=kind, partial_ids=sent)


class ZalooaChannel(Channel):
    """One Zalo app's Official Accounts: webhook in, consultation messages out."""

    id = CHANNEL_ID
    text_limit = TEXT_LIMIT
    chunks_replies = True
    refresh_check_interval = 600.0
    """Seconds between checks that the access token is not within the refresh margin."""

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self._live: dict[str, OAAccount] = {}
        self.webhooks: dict[str, OAWebhook] = {}
        self._hook_users: dict[str, int] = {}
        # Media on 127.0.0.1 only for the sandbox and tests (a fake's CDN); never by config.
        guard = UrlGuard(allow_loopback=bool(context.extras.get(LOOPBACK_MEDIA_EXTRA)))
        self._downloader = Downloader(guard, timeout=httpx2.Timeout(30.0))
        self._fetcher = MediaFetcher(context.state_dir / "media" / CHANNEL_ID, guard=guard)

    # -- the contract ----------------------------------------------------------------------

    def accounts(self) -> Sequence[ChannelAccount]:
        return configured_accounts(self.context.config.channels.plugin_section(CHANNEL_ID))

    def live(self, account: ChannelAccount) -> OAAccount:
        """The clients of ``account`` (built on first use)."""
        live = self._live.get(account.account_id)
        if live is None:
            live = self._live[account.account_id] = OAAccount.build(
                account,
                self.context.state_dir,
                self.context.register_secret,
                token_stores=self.context.token_stores,
                contacts=self.context.shared.contacts if self.context.shared else None,
            )
        return live

    def paths(self, account: ChannelAccount) -> tuple[str, str]:
        """The webhook path and the OAuth callback path of ``account`` on the gateway."""
        base = f"/zalooa/{account.account_id}"
        return account.settings.webhook_path or f"{base}/webhook", f"{base}/oauth"

    def _routes(self) -> RouteRegistrar:
        routes = self.context.routes
        if routes is None:
            raise ChannelError("zalooa needs the gateway's HTTP server", kind=FailureKind.FATAL)
        return routes

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        live = self.live(account)
        if live.keeper.reauth_reason is not None:
            _log.warning(
                "[%s] the OA must be authorised again: run "
                "`zalogate channels login --channel zalooa --account %s`",
                account.account_id,
                account.account_id,
            )
        async with self._webhook(account):
            await self._keep_fresh(account, live, stop)

    async def serve_inbound(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        """Accept the account's webhook POSTs and its OAuth callback until ``stop`` (cluster
        mode, every node); the refresh ahead of expiry stays with the node that runs it."""
        if self.context.routes is None:
            return
        async with self._webhook(account):
            await stop.wait()

    @contextlib.asynccontextmanager
    async def _webhook(self, account: ChannelAccount) -> AsyncIterator[None]:
        # The webhook and the OAuth callback. ``run`` and ``serve_inbound`` both serve them on
        # the lease holder: counted, so that the first to stop does not unmount them under
        # the other.
        routes = self._routes()
        acct = account.account_id
        hook_path, oauth_path = self.paths(account)
        if not self._hook_users.get(acct):
            live = self.live(account)
            secret = live.settings.oa_secret_key
            webhook = OAWebhook(
                channel=CHANNEL_ID,
                account_id=acct,
                app_id=live.oauth.app_id,
                oa_secret=lambda: secret.get_secret_value() if secret else None,
                oa_id=lambda: live.oa_id,
                inbox=self.context.inbox,
                interactions=live.interactions,
            )
            self.webhooks[acct] = webhook
            routes.mount(hook_path, webhook, name=f"zalooa webhook {acct}")
            routes.mount(oauth_path, _Callback(live), name=f"zalooa oauth {acct}")
        self._hook_users[acct] = self._hook_users.get(acct, 0) + 1
        try:
            yield
        finally:
            self._hook_users[acct] -= 1
            if not self._hook_users[acct]:
                del self._hook_users[acct]
                routes.unmount(hook_path)
                routes.unmount(oauth_path)

    async def _keep_fresh(
        self, account: ChannelAccount, live: OAAccount, stop: asyncio.Event
    ) -> None:
        # An idle OA still refreshes ahead of expiry: its refresh token must not age out.
        while not stop.is_set():
            if live.keeper.reauth_reason is None:
                try:
                    await live.keeper.access_token()
                except ReauthorizationRequiredError as exc:
                    _log.error("[%s] %s", account.account_id, exc)
                except ZaloOAError as exc:
                    _log.warning("[%s] token refresh failed: %s", account.account_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_check_interval)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        live = self.live(account)
        user_id = target.split(":")[-1]
        await self._check_window(live, user_id)
        sent: list[str] = []
        try:
            quote = reply.reply_to_id
            for chunk in chunk_text(reply.text, TEXT_LIMIT) if reply.text else ():
                sent.append(await live.client.send_text(user_id, chunk, quote=quote))
                quote = None  # only the first chunk quotes
            for url in reply.media_urls:
                sent.append(await self._send_media(live, user_id, url))
        except ZaloOAError as exc:
            raise _delivery_error(exc, sent) from None
        return DeliveryReceipt(message_ids=tuple(sent))

    async def _check_window(self, live: OAAccount, user_id: str) -> None:
        window = await live.interactions.current(user_id)
        if window is Window.CLOSED:
            raise DeliveryError(
                "outside the OA's 7-day reply window: the user has not interacted for over "
                "7 days (Zalo refuses with -230)",
                retryable=False,
            )
        if window is Window.BILLED and not live.settings.paid_sends:
            raise DeliveryError(
                "a billed reply (48 h to 7 days after the user's last interaction); set "
                "channels.zalooa paidSends: true to allow paid sends",
                retryable=False,
            )

    async def _send_media(self, live: OAAccount, user_id: str, url: str) -> str:
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
        is_image = name.lower().endswith((".png", ".jpg", ".jpeg"))
        kind: UploadKind = "image" if is_image else "file"
        try:
            download = await self._downloader.fetch(
                url, max_bytes=UPLOAD_LIMITS[kind], what="media URL"
            )
        except (DownloadError, UnsafeUrlError) as exc:
            raise DeliveryError(f"media URL could not be fetched: {exc}", retryable=False) from None
        upload_id = await live.client.upload(kind, name, download.data)
        if is_image:
            return await live.client.send_image(user_id, upload_id)
        return await live.client.send_file(user_id, upload_id)

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        live = self.live(account)
        try:
            info = await live.client.get_oa()
        except ZaloOAError as exc:
            return ProbeResult(ok=False, detail=str(exc))
        return ProbeResult(
            ok=True,
            detail="OA reachable",
            identity={"oaId": info.get("oa_id"), "name": info.get("name")},
        )

    # -- hooks -----------------------------------------------------------------------------

    async def prepare_inbound(
        self, account: ChannelAccount, message: InboundMessage
    ) -> InboundMessage:
        """Download the message's images (Zalo's CDN links expire), after access control."""
        # In a cluster another node may have taken the webhook: the reply window is checked
        # here, so this node learns of the interaction before it replies.
        await self.live(account).interactions.record(
            message.sender_id, message.timestamp_ms or None
        )
        limit = media_max_bytes(account.settings.media_max_mb)
        return await self._fetcher.resolve(message, max_bytes=limit)

    def account_snapshot(self, account: ChannelAccount) -> Mapping[str, Any]:
        live = self.live(account)
        reason = live.keeper.reauth_reason
        return {
            "configured": True,
            "mode": "webhook",
            "tokenStatus": "reauthorize" if reason else "ok",
            "tokenDetail": reason or "",
        }

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        async def send(args: dict[str, Any]) -> dict[str, Any]:
            target = str(args.get("userId") or (context.chat_id if context else ""))
            if not target:
                return {"ok": False, "error": "userId is required"}
            try:
                receipt = await self.send(
                    account, target, ReplyPayload(text=str(args.get("text", "")))
                )
            except DeliveryError as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True, "messageIds": list(receipt.message_ids)}

        schema = {
            "type": "object",
            "properties": {"userId": {"type": "string"}, "text": {"type": "string"}},
            "required": ["text"],
        }
        return [
            FunctionTool(
                "zalooa_send",
                "Send a consultation message from the Official Account to a user (within the "
                "user's reply window).",
                schema,
                send,
            )
        ]

    async def aclose(self) -> None:
        for live in self._live.values():
            await live.aclose()
        self._live.clear()
        await self._downloader.aclose()
        await self._fetcher.aclose()

    # -- capabilities ------------------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        return self

    @property
    def reactions(self) -> Reactions:
        return self

    @property
    def login(self) -> Login:
        return OALogin(self.live)

    async def reset_account(self, account: ChannelAccount) -> None:
        live = self._live.pop(account.account_id, None)
        if live is not None:
            await live.aclose()

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        info = await self.live(account).client.get_oa()
        return DirectoryEntry(id=str(info.get("oa_id", "")), name=info.get("name"), kind="bot")

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        client = self.live(account).client
        page = await client.followers(0, min(limit or 50, 50))
        ids = [str(u["user_id"]) for u in page.get("users", []) if isinstance(u, dict)]
        for row in await client.recent_chats():
            for key in ("from_id", "to_id"):
                if row.get(key) and str(row[key]) != self.live(account).oa_id:
                    ids.append(str(row[key]))
        entries = []
        for user_id in list(dict.fromkeys(ids))[: limit or None]:
            detail = await client.user_detail(user_id)
            name = detail.get("display_name")
            if query and query.lower() not in f"{user_id} {name}".lower():
                continue
            entries.append(
                DirectoryEntry(
                    id=user_id, name=name, extra={"follower": detail.get("user_is_follower")}
                )
            )
        return entries

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return []

    async def react(
        self, account: ChannelAccount, target: str, message_id: str, reaction: str
    ) -> None:
        try:
            await self.live(account).client.react(target.split(":")[-1], message_id, reaction)
        except ZaloOAError as exc:
            raise _delivery_error(exc, []) from None


class _Callback:
    """``GET <oauth path>?code&state&oa_id``: the consent lands on the gateway."""

    def __init__(self, live: OAAccount) -> None:
        self._live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        status, text = 200, "Authorised: the gateway now holds the OA's tokens."
        try:
            pending = await self._live.store.held_consent()
        except Exception as exc:  # the cluster out of reach: only a consent started here
            _log.warning("the pending consent could not be read: %s", exc)
            pending = None
        if pending is not None and pending.state == query.get("state"):
            self._live.oauth.remember(pending)  # started by `channels login`
        try:
            pair = await self._live.oauth.exchange(query.get("code", ""), query.get("state", ""))
        except ZaloOAError as exc:
            status, text = 400, f"Not authorised: {exc}"
        else:
            await self._live.keeper.adopt(pair)
            if query.get("oa_id"):
                self._live.remember_oa_id(query["oa_id"])
        body = text.encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
