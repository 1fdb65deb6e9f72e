"""The console's pages and actions (each one behind :meth:`Console.guard`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from zalogate.console.allowlists import account_lists, directory_choices
from zalogate.console.auth import Session
from zalogate.console.i18n import LANGUAGES
from zalogate.console.login_flow import LoginFlow, WebLoginUI
from zalogate.core.access_overlay import LISTS, OverlayList
from zalogate.core.inbox_admin import dead_letter_count, list_entries, prune_entries
from zalogate.core.pairing import PairingError, PairingStore, pairing_approved_text
from zalogate.core.takeover import ConversationKey
from zalogate.runtime.control import MessageRequest
from zalogate.runtime.logging import redact
from zalogate.runtime.status import AccountState

if TYPE_CHECKING:
    from zalogate.console.app import Console, Page
    from zalogate.core.channel import Channel, ChannelAccount

__all__ = ["routes"]

log = logging.getLogger("zalogate.console")

_DAY_MS = 86_400_000
_ACCESS_ACTIONS = frozenset({"access-add", "access-block", "access-forget"})
_LOG_POLL_S = 0.5


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _back(to: str) -> Response:
    return RedirectResponse(to, status_code=303)


def _form(request: Request) -> dict[str, str]:
    form = getattr(request.state, "form", None)
    return form if isinstance(form, dict) else {}


def _error_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return redact(lines[0]) if lines else type(exc).__name__


class Views:
    """The handlers; ``console`` lends the gateway, the renderer and the logins."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.gateway = console.gateway

    # -- helpers ----------------------------------------------------------------------

    def _store(self) -> Any:
        store = self.gateway.store
        if store is None:
            raise RuntimeError("the gateway is not running")
        return store

    def _pairing(self) -> PairingStore:
        """The gateway's pairing store (this node's SQLite, or the cluster's KV)."""
        shared = self.gateway.shared
        if shared is None:
            raise RuntimeError("the gateway is not running")
        return shared.pairing

    def _account(self, channel_id: str, account_id: str) -> tuple[Channel, ChannelAccount] | None:
        channel = self.gateway.channels.get(channel_id)
        account = channel.account(account_id) if channel is not None else None
        if channel is None or account is None:
            return None
        return channel, account

    # -- overview ---------------------------------------------------------------------

    async def overview(self, request: Request, session: Session) -> Response:
        store = self._store()
        rows = []
        for record in self.gateway.status():
            found = self._account(record.channel, record.account)
            mode = ""
            can_login = reauth = False
            if found is not None:
                channel, account = found
                snapshot = channel.account_snapshot(account)
                mode = str(snapshot.get("mode") or "")
                can_login = channel.login is not None
                reauth = can_login and (
                    record.state is AccountState.UNAUTHORIZED
                    or snapshot.get("tokenStatus") == "reauthorize"
                )
            rows.append(
                {
                    "channel": record.channel,
                    "account": record.account,
                    "state": record.state.value,
                    "mode": mode,
                    "last_inbound": _when(record.last_inbound_at),
                    "last_outbound": _when(record.last_outbound_at),
                    "last_error": redact(record.last_error or record.reason or ""),
                    "dead": await dead_letter_count(store, record.channel, record.account),
                    "can_login": can_login,
                    "reauth": reauth,
                }
            )
        return self.console.render(request, session, "overview.html", accounts=rows)

    async def account_action(self, request: Request, session: Session) -> Response:
        channel = request.path_params["channel"]
        account = request.path_params["account"]
        action = request.path_params["action"]
        try:
            if action == "restart":
                await self.gateway.restart_account(channel, account)
            elif action == "stop":
                await self.gateway.stop_account(channel, account, reason="stopped in the console")
            elif action == "logout":
                found = self._account(channel, account)
                login = found[0].login if found else None
                if found is None or login is None:
                    return Response("this account has no login", status_code=404)
                await self.gateway.stop_account(channel, account, reason="logged out")
                await login.logout(found[1])
            else:
                return Response("unknown action", status_code=404)
            session.flashes.append(f"{channel}/{account}: {action} ✓")
            log.info("console: %s of %s/%s", action, channel, account)
        except Exception as exc:
            session.flashes.append(f"{channel}/{account}: {_error_line(exc)}")
        return _back("/console/")

    # -- interactive login (QR code or consent link) -----------------------------------

    async def login_page(self, request: Request, session: Session) -> Response:
        channel = request.path_params["channel"]
        account = request.path_params["account"]
        if self._account(channel, account) is None:
            return Response("no such account", status_code=404)
        flow = self.console.logins.get((channel, account))
        return self.console.render(
            request,
            session,
            "login_qr.html",
            channel=channel,
            account=account,
            running=flow is not None and not flow.done,
        )

    async def login_start(self, request: Request, session: Session) -> Response:
        channel_id = request.path_params["channel"]
        account_id = request.path_params["account"]
        found = self._account(channel_id, account_id)
        login = found[0].login if found else None
        if found is None or login is None:
            return Response("this account has no interactive login", status_code=404)
        key = (channel_id, account_id)
        old = self.console.logins.get(key)
        if old is not None:
            await old.cancel()
        qr_path = self.gateway.state_dir / "tmp" / f"{channel_id}-console-qr-{account_id}.png"
        ui = WebLoginUI(qr_path, replace=_form(request).get("replace") == "1")

        async def restart() -> object:
            return await self.gateway.restart_account(channel_id, account_id)

        self.console.logins[key] = LoginFlow(login, found[1], ui, restart)
        return _back(f"/console/accounts/{channel_id}/{account_id}/login")

    async def login_events(self, request: Request, session: Session) -> Response:
        key = (request.path_params["channel"], request.path_params["account"])
        flow = self.console.logins.get(key)
        if flow is None:
            return Response("no login is running", status_code=404)

        async def stream() -> AsyncIterator[bytes]:
            async for event in flow.ui.follow(lambda: flow.done):
                data = {"step": event.step, "text": event.text, "qr": event.qr}
                if event.link:
                    data["link"] = event.link
                yield f"data: {json.dumps(data)}\n\n".encode()
            yield b'data: {"step": "end"}\n\n'

        return _event_stream(stream())

    # -- pairing ----------------------------------------------------------------------

    async def pairing(self, request: Request, session: Session) -> Response:
        pairing = self._pairing()
        pending = []
        allow = []
        for channel_id, channel in self.gateway.channels.items():
            for req in await pairing.list_pending(channel_id):
                pending.append({"req": req, "created": _when(int(req.created_at_ms))})
            for account in channel.accounts():
                peers, groups = await directory_choices(channel, account)
                allow.append(
                    {
                        "channel": channel_id,
                        "account": account.account_id,
                        "stored": sorted(
                            await pairing.allowed_senders(channel_id, account.account_id)
                        ),
                        "lists": account_lists(channel, account, self.gateway.access),
                        "peers": peers,
                        "groups": groups,
                    }
                )
        return self.console.render(request, session, "pairing.html", pending=pending, allow=allow)

    async def pairing_action(self, request: Request, session: Session) -> Response:
        action = request.path_params["action"]
        form = _form(request)
        channel = form.get("channel", "")
        account = form.get("account", "")
        pairing = self._pairing()
        try:
            if action == "approve":
                approved = await pairing.approve(channel, form.get("code", ""), account or None)
                session.flashes.append(f"{approved.id}: approved ✓")
                if form.get("notify") == "1":
                    text = pairing_approved_text(channel)
                    request_ = MessageRequest(target=approved.id, text=text)
                    await self.gateway.send_message(channel, approved.account_id, request_)
            elif action == "reject":
                rejected = await pairing.reject(channel, form.get("code", ""), account or None)
                session.flashes.append(f"{rejected.code}: rejected")
            elif action == "allow":
                sender = form.get("sender", "").strip()
                if not sender or sender == "*":
                    raise PairingError("give a user id (not *)")
                await pairing.add_allowed(channel, account, sender)
                session.flashes.append(f"{sender}: allowed ✓")
            elif action == "disallow":
                await pairing.remove_allowed(channel, account, form.get("sender", ""))
                session.flashes.append(f"{form.get('sender', '')}: removed")
            elif action in _ACCESS_ACTIONS:
                entry = await self._edit_access(action, channel, account, form)
                session.flashes.append(f"{form.get('list')}: {entry} ✓")
            else:
                return Response("unknown action", status_code=404)
            log.info("console: pairing %s on %s/%s", action, channel, account or "-")
        except Exception as exc:
            session.flashes.append(_error_line(exc))
        return _back("/console/pairing")

    async def _edit_access(
        self, action: str, channel: str, account: str, form: dict[str, str]
    ) -> str:
        """``access-add`` / ``access-block`` / ``access-forget`` one entry of one list."""
        access = self.gateway.access
        name = form.get("list", "")
        if access is None or self._account(channel, account) is None:
            raise LookupError(f"no running account {channel}/{account}")
        if name not in LISTS:
            raise ValueError(f"unknown list {name!r}")
        list_name: OverlayList = name
        raw = form.get("entry", "")
        if action == "access-add":
            return await access.allow(channel, account, list_name, raw)
        if action == "access-block":
            return await access.block(channel, account, list_name, raw)
        await access.forget(channel, account, list_name, raw)
        return raw.strip()

    # -- conversations ----------------------------------------------------------------

    def _takeover(self) -> Any:
        takeover = self.gateway.takeover
        if takeover is None:
            raise RuntimeError("the gateway is not running")
        return takeover

    async def conversations(self, request: Request, session: Session) -> Response:
        items = [
            {"c": c, "when": _when(c.last.at_ms if c.last else None)}
            for c in await self._takeover().conversations()
        ]
        return self.console.render(request, session, "conversations.html", items=items)

    @staticmethod
    def _key(request: Request) -> ConversationKey:
        p = request.path_params
        return ConversationKey(
            p["channel"], p["account"], p["chat"], request.query_params.get("g") == "1"
        )

    async def conversation(self, request: Request, session: Session) -> Response:
        key = self._key(request)
        takeover = self._takeover()
        lines = [
            {"line": line, "when": _when(line.at_ms)} for line in await takeover.transcript(key)
        ]
        return self.console.render(
            request,
            session,
            "conversation.html",
            key=key,
            title=takeover.title(key),
            lines=lines,
            paused=await takeover.is_paused(key),
            query="?g=1" if key.is_group else "",
        )

    async def conversation_action(self, request: Request, session: Session) -> Response:
        key = self._key(request)
        action = request.path_params["action"]
        takeover = self._takeover()
        try:
            if action == "pause":
                await takeover.pause(key)
            elif action == "resume":
                await takeover.resume(key)
            elif action == "reply":
                text = _form(request).get("text", "").strip()
                if text:
                    wanted = MessageRequest(target=key.target, text=text)
                    await self.gateway.send_message(key.channel, key.account_id, wanted)
                    await takeover.record_reply(key, text, "operator")
            else:
                return Response("unknown action", status_code=404)
            log.info("console: %s in %s/%s %s", action, key.channel, key.account_id, key.chat_id)
        except Exception as exc:
            session.flashes.append(_error_line(exc))
        query = "?g=1" if key.is_group else ""
        return _back(f"/console/conversations/{key.channel}/{key.account_id}/{key.chat_id}{query}")

    # -- inbox ------------------------------------------------------------------------

    async def inbox(self, request: Request, session: Session) -> Response:
        store = self._store()
        pending = await list_entries(store, state="pending")
        dead = await list_entries(store, state="dead")
        return self.console.render(
            request,
            session,
            "inbox.html",
            pending=[{"e": e, "when": _when(e.admitted_at_ms)} for e in pending],
            dead=[{"e": e, "when": _when(e.admitted_at_ms)} for e in dead],
        )

    async def inbox_action(self, request: Request, session: Session) -> Response:
        action = request.path_params["action"]
        form = _form(request)
        try:
            if action == "retry":
                ids = [int(x) for x in form.get("ids", "").split(",") if x.strip().isdigit()]
                count = await self.gateway.retry_inbox(ids or None, all_dead=form.get("all") == "1")
                session.flashes.append(f"{count} ✓")
            elif action == "prune":
                days = float(form.get("days") or 7)
                cutoff = int(time.time() * 1000 - days * _DAY_MS)
                count = await prune_entries(self._store(), cutoff)
                session.flashes.append(f"{count} ✓")
            else:
                return Response("unknown action", status_code=404)
        except Exception as exc:
            session.flashes.append(_error_line(exc))
        return _back("/console/inbox")

    # -- logs, language, logout ---------------------------------------------------------

    async def logs(self, request: Request, session: Session) -> Response:
        lines = self.console.logs.since(0)[-200:]
        return self.console.render(request, session, "logs.html", lines=lines)

    async def log_events(self, request: Request, session: Session) -> Response:
        tail = self.console.logs
        try:
            seq = int(request.query_params.get("after", "0"))
        except ValueError:
            seq = 0

        async def stream() -> AsyncIterator[bytes]:
            nonlocal seq
            idle = 0.0
            while not self.gateway.stopping:
                lines = tail.since(seq)
                for number, line in lines:
                    seq = number
                    yield f"id: {number}\ndata: {json.dumps(line)}\n\n".encode()
                idle = 0.0 if lines else idle + _LOG_POLL_S
                if idle >= 15:
                    idle = 0.0
                    yield b": ping\n\n"
                await asyncio.sleep(_LOG_POLL_S)

        return _event_stream(stream())

    async def language(self, request: Request, session: Session) -> Response:
        lang = request.path_params["lang"]
        if lang in LANGUAGES:
            session.lang = lang
            self.console.auth.remember(session)
        referer = request.headers.get("referer", "")
        path = "/" + referer.split("://", 1)[-1].split("/", 1)[-1] if referer else "/console/"
        return _back(path if path.startswith("/console") else "/console/")

    async def logout(self, request: Request, session: Session) -> Response:
        self.console.auth.close(session)
        response = _back("/console/login")
        response.delete_cookie("zalogate_console", path="/")
        return response


def _event_stream(body: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def routes(console: Console) -> list[BaseRoute]:
    """Every page and action, each behind the console's guard."""
    views = Views(console)

    def guarded(page: Page) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await console.guard(request, page)

        return endpoint

    acct = "/console/accounts/{channel}/{account}"
    conv = "/console/conversations/{channel}/{account}/{chat}"
    get, post = ["GET", "HEAD"], ["POST"]
    table: list[tuple[str, Page, list[str]]] = [
        ("/console", views.overview, get),
        ("/console/", views.overview, get),
        (acct + "/login", views.login_page, get),
        (acct + "/login", views.login_start, post),
        (acct + "/login/events", views.login_events, get),
        (acct + "/{action}", views.account_action, post),
        ("/console/pairing", views.pairing, get),
        ("/console/pairing/{action}", views.pairing_action, post),
        ("/console/conversations", views.conversations, get),
        (conv, views.conversation, get),
        (conv + "/{action}", views.conversation_action, post),
        ("/console/inbox", views.inbox, get),
        ("/console/inbox/{action}", views.inbox_action, post),
        ("/console/logs", views.logs, get),
        ("/console/logs/events", views.log_events, get),
        ("/console/lang/{lang}", views.language, post),
        ("/console/logout", views.logout, post),
    ]
    return [Route(path, guarded(page), methods=methods) for path, page, methods in table]
