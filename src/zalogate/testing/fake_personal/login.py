"""Login pages, QR long-polls, ``getLoginInfo`` / ``getServerInfo`` and media downloads."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import segno
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from zalogate.testing.fake_personal import wire
from zalogate.testing.fake_personal.model import QrSession
from zalogate.testing.fake_personal.state import (
    COOKIE_SESSION,
    ERR_LOGIN,
    ERR_QR_EXPIRED,
    ERR_SESSION,
    Device,
    FakeState,
)

QR_WAIT_AGAIN = 8
QR_DECLINED = -13

LOGIN_PAGE_VERSION = "2.44.8"
ZALO_SERVICE_HOSTS: dict[str, str] = {
    "chat": "https://tt-chat1-wpa.chat.zalo.me",
    "group": "https://tt-group-wpa.chat.zalo.me",
    "file": "https://tt-files-wpa.chat.zalo.me",
    "profile": "https://tt-profile-wpa.chat.zalo.me",
    "friend": "https://tt-friend-wpa.chat.zalo.me",
    "group_poll": "https://tt-group-wpa.chat.zalo.me",
    "reaction": "https://reaction.chat.zalo.me",
    "conversation": "https://tt-convers-wpa.chat.zalo.me",
    "sticker": "https://sticker-wpa.chat.zalo.me",
    "label": "https://label-wpa.chat.zalo.me",
    "alias": "https://alias-wpa.chat.zalo.me",
    "boards": "https://boards-wpa.chat.zalo.me",
    "group_board": "https://groupboard-wpa.chat.zalo.me",
    "friend_board": "https://friend-board-wpa.chat.zalo.me",
    "zcloud": "https://zcloud-wpa.chat.zalo.me",
    "other_contact": "https://tt-profile-wpa.chat.zalo.me",
    "auto_reply": "https://autoreply-wpa.chat.zalo.me",
    "quick_message": "https://quick-message-wpa.chat.zalo.me",
    "catalog": "https://catalog-wpa.chat.zalo.me",
    "voice_call": "https://voicecall-wpa.chat.zalo.me",
    "todoUrl": "https://todo-wpa.chat.zalo.me",
    "recent_search": "https://recent-search-wpa.chat.zalo.me",
    "zimsg": "https://zimsg-wpa.chat.zalo.me",
    "aext": "https://aext-wpa.chat.zalo.me",
    "media_store": "https://media-store-wpa.chat.zalo.me",
    "media_store_send2me": "https://media-store-wpa.chat.zalo.me",
    "zcloud_up_file": "https://tt-files-wpa.chat.zalo.me",
    "chat_e2e": "https://tt-chat1-wpa.chat.zalo.me",
    "group_e2e": "https://tt-group-wpa.chat.zalo.me",
    "workspace": "https://workspace-wpa.chat.zalo.me",
    "sp_contact": "https://tt-profile-wpa.chat.zalo.me",
    "push_act": "https://push-act-wpa.chat.zalo.me",
    "zfamily": "https://zfamily-wpa.chat.zalo.me",
    "group_cloud_message": "https://tt-group-wpa.chat.zalo.me",
    "sync_action": "https://sync-action-wpa.chat.zalo.me",
    "friendLan": "https://tt-friend-wpa.chat.zalo.me",
    "fallback_LP": "https://tt-chat1-wpa.chat.zalo.me",
    "up_file": "https://tt-files-wpa.chat.zalo.me",
    "zavi": "https://zavi-wpa.chat.zalo.me",
    "consent": "https://consent-wpa.chat.zalo.me",
}

_COOKIE_QR = "zlogin_qr"


class LoginRoutes(FakeState):
    """The plain (unencrypted) routes: login, QR, server info, media."""

    def _plain_routes(self) -> list[tuple[str, Callable[[Request], Awaitable[Response]], str]]:
        """The login, page and media routes (path, handler, method): everything else is a
        session call."""
        return [
            ("/account", self._login_page, "GET"),
            ("/account/logininfo", self._qr_plain_ok, "POST"),
            ("/account/verify-client", self._qr_plain_ok, "POST"),
            ("/account/authen/qr/generate", self._qr_generate, "POST"),
            ("/account/authen/qr/waiting-scan", self._qr_waiting_scan, "POST"),
            ("/account/authen/qr/waiting-confirm", self._qr_waiting_confirm, "POST"),
            ("/account/checksession", self._checksession, "GET"),
            ("/index.html", self._index, "GET"),
            ("/jr/userinfo", self._userinfo, "GET"),
            ("/api/login/getLoginInfo", self._get_login_info, "GET"),
            ("/api/login/getServerInfo", self._get_server_info, "GET"),
        ]

    @staticmethod
    def _zalo_mode(request: Request) -> bool:
        return "x-zalo-host" in request.headers

    def _set_cookie(
        self, response: Response, request: Request, name: str, value: str, domain: str
    ) -> None:
        if self._zalo_mode(request):
            response.set_cookie(
                name, value, path="/", domain=domain, secure=True, httponly=True, samesite="none"
            )
        else:
            response.set_cookie(name, value, path="/", httponly=True)

    def _device_of(self, request: Request) -> Device | None:
        sek = request.cookies.get(COOKIE_SESSION)
        return self._devices.get(sek) if sek else None

    async def _login_page(self, request: Request) -> Response:
        html = (
            "<!DOCTYPE html><html><head><title>Zalo</title>"
            f'<script src="https://stc-zlogin.zdn.vn/main-{LOGIN_PAGE_VERSION}.js"></script>'
            "</head><body></body></html>"
        )
        return HTMLResponse(html)

    async def _qr_plain_ok(self, request: Request) -> Response:
        return JSONResponse({"error_code": 0, "error_message": "", "data": {}})

    async def _qr_generate(self, request: Request) -> Response:
        sess = QrSession(code=secrets.token_hex(16))
        qr = segno.make(f"https://id.zalo.me/qr/{sess.code}", error="m")
        png = qr.png_data_uri(scale=4)
        await self.qr._add(sess)
        body = {
            "error_code": 0,
            "error_message": "",
            "data": {
                "code": sess.code,
                "image": png,
                "options": {"enabledCheckOCR": False, "enabledMultiLayer": False},
                "token": secrets.token_hex(8),
            },
        }
        response = JSONResponse(body)
        self._set_cookie(response, request, _COOKIE_QR, sess.code, "id.zalo.me")
        return response

    async def _qr_wait(self, request: Request, done: tuple[str, ...]) -> QrSession | None:
        form = parse_qs((await request.body()).decode())
        code = (form.get("code") or [""])[0]
        sess = next((s for s in self.qr.sessions if s.code == code), None)
        if sess is None:
            return None
        if sess.state not in done:
            sess.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.long_poll_s):
                    while sess.state not in done:
                        await sess.changed.wait()
                        sess.changed.clear()
        return sess

    async def _qr_waiting_scan(self, request: Request) -> Response:
        sess = await self._qr_wait(request, ("scanned", "confirmed", "declined", "expired"))
        if sess is None:
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR not found"})
        if sess.state == "expired":
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR expired"})
        if sess.state == "generated":
            return JSONResponse({"error_code": QR_WAIT_AGAIN, "error_message": "waiting"})
        assert sess.account is not None
        data = {"avatar": sess.account.avatar, "display_name": sess.account.name}
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _qr_waiting_confirm(self, request: Request) -> Response:
        sess = await self._qr_wait(request, ("confirmed", "declined", "expired"))
        if sess is None or sess.state == "expired":
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR expired"})
        if sess.state == "declined":
            return JSONResponse({"error_code": QR_DECLINED, "error_message": "declined"})
        if sess.state != "confirmed":
            return JSONResponse({"error_code": QR_WAIT_AGAIN, "error_message": "waiting"})
        return JSONResponse({"error_code": 0, "error_message": "", "data": {}})

    def _chat_url(self, request: Request, path: str) -> str:
        if self._zalo_mode(request):
            return "https://chat.zalo.me" + path
        return self.base_url + path

    async def _checksession(self, request: Request) -> Response:
        code = request.cookies.get(_COOKIE_QR, "")
        sess = next((s for s in self.qr.sessions if s.code == code), None)
        if sess is None or sess.state != "confirmed" or sess.used or sess.account is None:
            target = "https://id.zalo.me/account" if self._zalo_mode(request) else "/account"
            return RedirectResponse(target, status_code=302)
        sess.used = True
        device = self._new_device(sess.account)
        response = RedirectResponse(self._chat_url(request, "/index.html"), status_code=302)
        for name, value in self._session_cookies(device).items():
            self._set_cookie(response, request, name, value, "zalo.me")
        return response

    async def _index(self, request: Request) -> Response:
        return HTMLResponse("<!DOCTYPE html><html><body>Zalo Web (fake)</body></html>")

    async def _userinfo(self, request: Request) -> Response:
        device = self._device_of(request)
        if device is None:
            return JSONResponse({"error_code": 0, "data": {"logged": False}})
        account = self.accounts[device.uid]
        info = {"name": account.name, "avatar": account.avatar}
        data = {"logged": True, "session_chat_valid": True, "info": info}
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _get_login_info(self, request: Request) -> Response:
        q = request.query_params
        fields = ("zcid", "zcid_ext", "enc_ver", "params", "type", "client_version", "signkey")
        if any(not q.get(k) for k in fields):
            return self._plain_error(ERR_LOGIN, "missing login parameters")
        signed = {k: q[k] for k in fields[:-1]}
        if not secrets.compare_digest(wire.sign_key("getlogininfo", signed), q["signkey"]):
            return self._plain_error(ERR_LOGIN, "bad signkey")
        key = wire.derive_login_key(q["zcid"], q["zcid_ext"])
        try:
            params = wire.open_login_params(key, q["params"])
        except wire.WireError:
            return self._plain_error(ERR_LOGIN, "cannot decrypt params")
        imei = str(params.get("imei") or "")
        if not imei:
            return self._plain_error(ERR_LOGIN, "missing imei")
        ua = request.headers.get("user-agent", "")
        if self.strict_user_agent and not imei.endswith("-" + wire.md5_hex(ua)):
            return self._plain_error(ERR_LOGIN, "imei does not match the User-Agent")
        device = self._device_of(request)
        if device is None:
            return self._plain_error(ERR_SESSION, "zpw_sek bị thiếu hoặc không đúng")
        if self._fault_error("api/login/getLoginInfo") is not None:
            return self._plain_error(ERR_LOGIN, "simulated failure")
        device.imei = imei
        device.user_agent = ua
        device.calls.append("/api/login/getLoginInfo")
        session_key = base64.b64encode(os.urandom(32)).decode()
        device.keys.append(session_key)
        account = self.accounts[device.uid]
        info = {
            "uid": account.uid,
            "zpw_enk": session_key,
            "zpw_key": session_key,
            "zpw_ws": [self.ws_url, self.ws_url + "2"],
            "zpw_service_map_v3": self._service_map(request),
            "haspcclient": 0,
            "public_ip": "127.0.0.1",
            "language": str(params.get("language") or "vi"),
            "send2me_id": "0",
            "phone_number": account.phone or "",
            "isNewAccount": False,
        }
        inner = {"error_code": 0, "error_message": "", "data": info}
        return JSONResponse(
            {"error_code": 0, "error_message": "", "data": wire.seal_login_payload(key, inner)}
        )

    def _service_map(self, request: Request) -> dict[str, list[str]]:
        if self._zalo_mode(request):
            return {k: [v] for k, v in ZALO_SERVICE_HOSTS.items()}
        return {k: [self.base_url] for k in ZALO_SERVICE_HOSTS}

    async def _get_server_info(self, request: Request) -> Response:
        q = request.query_params
        signed = {k: q.get(k, "") for k in ("imei", "type", "client_version", "computer_name")}
        if not secrets.compare_digest(wire.sign_key("getserverinfo", signed), q.get("signkey", "")):
            return JSONResponse(
                {"error_code": ERR_LOGIN, "error_message": "bad signkey", "data": None}
            )
        settings = {
            "features": {
                "sharefile": {
                    "max_file": 10,
                    "max_size_share_file_v3": 1024,
                    "restricted_ext_file": ["exe", "bat", "cmd", "msi", "scr"],
                    "chunk_size_file": 3_145_728,
                    "max_size_photo": 10,
                    "big_file_domain_list": [],
                },
                "socket": {
                    "ping_interval": self.ping_interval_ms,
                    "retries": {
                        "1006": {"max": 5, "times": [1000, 2000, 5000]},
                        "3003": {"max": 1, "times": 5000},
                    },
                    "close_and_retry_codes": [1006, 3003],
                    "rotate_error_codes": [1006],
                    "reset_endpoint": 0,
                    "max_msg_size": 10_000,
                    "queue_ctrl_actionid_map": {},
                },
            },
            "keepalive": {"alway_keepalive": 1, "keepalive_duration": 300, "time_deactive": 600},
        }
        data = {
            "setttings": settings,
            "extra_ver": {"phonebook": 0, "friend": 0, "alias": 0, "conv_label": 0},
        }
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _media(self, request: Request) -> Response:
        data = self.media.get(request.path_params["media_id"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")

    @staticmethod
    def _plain_error(code: int, message: str) -> Response:
        return JSONResponse({"error_code": code, "error_message": message, "data": None})
