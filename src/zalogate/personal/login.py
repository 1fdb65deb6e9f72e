"""Logging in: the QR flow (reference §1.1, eight steps) and cookie login (§1.4).

`login_qr` drives id.zalo.me like the web client does and reports progress as events
(`QrGenerated` with the PNG and a drawable module matrix, `QrScanned`, `QrExpired` with
automatic renewal up to a limit, `QrDeclined`, `LoggedIn`). It ends with a cookie login, the
same one `login_cookie` performs with saved `Credentials`: the encrypted ``getLoginInfo``
(enc_ver v2) and the signed ``getServerInfo``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zalogate.personal.cookies import CookieJar
from zalogate.personal.crypto import (
    build_login_query,
    build_server_info_query,
    decrypt_login_response,
    generate_imei,
    random_zcid_ext,
)
from zalogate.personal.errors import (
    CryptoError,
    LoginError,
    ProtocolError,
    QrDeclinedError,
    QrExpiredError,
    RequestTimeoutError,
    api_error,
)
from zalogate.personal.http import PersonalHttp
from zalogate.personal.qr import QrMatrix, png_to_matrix, render_half_blocks
from zalogate.personal.session import Credentials, Session

__all__ = [
    "LoggedIn",
    "QrDeclined",
    "QrEvent",
    "QrEventHandler",
    "QrExpired",
    "QrGenerated",
    "QrScanned",
    "login_cookie",
    "login_qr",
]

#: Error codes of the QR long-polls (reference §1.1).
QR_WAIT_AGAIN = 8
QR_DECLINED = -13
_VERSION_RE = re.compile(r"https://stc-zlogin\.zdn\.vn/main-([\d.]+)\.js")
_BROWSER = {
    "Accept": "*/*",
    "Accept-Language": "vi-VN,vi;q=0.9,en-US;q=0.6,en;q=0.5",
    "Content-Type": "application/x-www-form-urlencoded",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "Referer": "https://id.zalo.me/account?continue=https%3A%2F%2Fzalo.me%2Fpc",
}
_NAVIGATE = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "vi-VN,vi;q=0.9,en-US;q=0.6,en;q=0.5",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Upgrade-Insecure-Requests": "1",
}
_WAIT_REFERER = "https://id.zalo.me/account?continue=https%3A%2F%2Fchat.zalo.me%2F"


@dataclass(frozen=True, slots=True)
class QrGenerated:
    """A QR code to show: scan it with the Zalo app ("Zalo Web" login).

    Attributes:
        code: the polling token of this QR code.
        png: the PNG image bytes as Zalo sent them.
        matrix: the QR modules (``True`` = dark), or ``None`` if the PNG was unreadable.
        attempt: 1 for the first code, 2 after the first renewal, ...
    """

    code: str
    png: bytes = field(repr=False)
    matrix: QrMatrix | None = field(repr=False)
    attempt: int = 1

    def terminal(self) -> str:
        """The QR code drawn with Unicode half blocks (empty if no matrix)."""
        return render_half_blocks(self.matrix) if self.matrix else ""


@dataclass(frozen=True, slots=True)
class QrScanned:
    """The phone of ``display_name`` scanned the code; waiting for its confirmation."""

    display_name: str
    avatar: str


@dataclass(frozen=True, slots=True)
class QrExpired:
    """The QR code expired; ``renewing`` says whether a new one follows."""

    attempt: int
    renewing: bool


@dataclass(frozen=True, slots=True)
class QrDeclined:
    """The phone declined the login."""

    code: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """Login finished; persist ``credentials`` (mode 0600) for `login_cookie`."""

    session: Session
    credentials: Credentials


QrEvent = QrGenerated | QrScanned | QrExpired | QrDeclined | LoggedIn
QrEventHandler = Callable[[QrEvent], Awaitable[None] | None]


class _QrCodeGoneError(Exception):
    """This QR code can no longer be used."""


async def _emit(handler: QrEventHandler | None, event: QrEvent) -> None:
    if handler is None:
        return
    result = handler(event)
    if inspect.isawaitable(result):
        await result


def _png_of(image: Any) -> bytes:
    if not isinstance(image, str):
        return b""
    text = image.split(",", 1)[1] if image.startswith("data:") else image
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b""


async def login_qr(
    http: PersonalHttp,
    *,
    on_event: QrEventHandler | None = None,
    qr_timeout_s: float = 100.0,
    max_renewals: int = 3,
) -> tuple[Session, Credentials]:
    """Log in by QR code; return the session and the credentials to persist.

    Args:
        http: the HTTP layer (its jar is replaced by a fresh one).
        on_event: called (sync or async) with each `QrEvent`.
        qr_timeout_s: how long one QR code is shown before it counts as expired
            (the web client uses 100 s).
        max_renewals: how many new codes are generated after expiries.

    Raises:
        QrExpiredError: every code expired.
        QrDeclinedError: the phone declined.
        LoginError: another step failed (e.g. "Can't login" after confirmation).
    """
    http.jar = CookieJar()
    id_base = http.endpoints.id_base
    page = await http.request(
        "GET",
        f"{id_base}/account",
        query=[("continue", "https://chat.zalo.me/")],
        headers={**_NAVIGATE, "Referer": "https://chat.zalo.me/"},
    )
    match = _VERSION_RE.search(page.text)
    if match is None:
        raise LoginError("Cannot get API login version (login page changed?)")
    version = match.group(1)
    pc = {"continue": "https://zalo.me/pc", "v": version}
    for step in ("logininfo", "verify-client"):
        # Answers are ignored (the web client does the same); their cookies matter.
        form = {"type": "device", **pc} if step == "verify-client" else pc
        await http.request("POST", f"{id_base}/account/{step}", data=form, headers=_BROWSER)

    attempt = 0
    while True:
        attempt += 1
        generated = await http.get_json(
            f"{id_base}/account/authen/qr/generate", method="POST", data=pc, headers=_BROWSER
        )
        data = generated.get("data") if isinstance(generated, Mapping) else None
        if not isinstance(data, Mapping) or not data.get("code"):
            raise LoginError("Unable to generate a QR code")
        code = str(data["code"])
        png = _png_of(data.get("image"))
        try:
            # Pure-Python decoding takes up to ~0.4 s for a large RGB QR: off the event loop.
            matrix: QrMatrix | None = await asyncio.to_thread(png_to_matrix, png)
        except (ValueError, IndexError, KeyError):
            matrix = None
        await _emit(on_event, QrGenerated(code=code, png=png, matrix=matrix, attempt=attempt))
        try:
            async with asyncio.timeout(qr_timeout_s):
                await _wait_for_phone(http, code, version, on_event)
            break
        except (_QrCodeGoneError, TimeoutError):
            renewing = attempt <= max_renewals
            await _emit(on_event, QrExpired(attempt=attempt, renewing=renewing))
            if not renewing:
                raise QrExpiredError(f"QR code expired {attempt} time(s); giving up") from None

    await http.request(
        "GET",
        f"{id_base}/account/checksession",
        query=[("continue", "https://chat.zalo.me/index.html")],
        headers={**_NAVIGATE, "Referer": _WAIT_REFERER},
    )
    info = await http.get_json(
        f"{http.endpoints.jr_base}/jr/userinfo",
        headers={"Accept": "*/*", "Referer": "https://chat.zalo.me/"},
    )
    user = info.get("data") if isinstance(info, Mapping) else None
    if not isinstance(user, Mapping) or not user.get("logged"):
        raise LoginError("Can't login: Zalo did not accept the confirmed QR session")
    credentials = Credentials(
        imei=generate_imei(http.user_agent),
        cookies=http.jar.to_json(),
        user_agent=http.user_agent,
        language=http.language,
    )
    session = await login_cookie(http, credentials)
    final = http_credentials(http, credentials)
    await _emit(on_event, LoggedIn(session=session, credentials=final))
    return session, final


async def _wait_for_phone(
    http: PersonalHttp, code: str, version: str, on_event: QrEventHandler | None
) -> None:
    id_base = http.endpoints.id_base
    chat = {"code": code, "continue": "https://chat.zalo.me/", "v": version}
    headers = {**_BROWSER, "Referer": _WAIT_REFERER}
    while True:
        try:
            scan = await http.get_json(
                f"{id_base}/account/authen/qr/waiting-scan",
                method="POST",
                data=chat,
                headers=headers,
            )
        except RequestTimeoutError:
            continue  # a long-poll outlived the HTTP deadline; qr_timeout_s bounds the wait
        status = _code(scan)
        if status == QR_WAIT_AGAIN:
            continue
        data = scan.get("data") if isinstance(scan, Mapping) else None
        if status != 0 or not isinstance(data, Mapping):
            raise _QrCodeGoneError
        await _emit(
            on_event,
            QrScanned(
                display_name=str(data.get("display_name") or ""),
                avatar=str(data.get("avatar") or ""),
            ),
        )
        break
    confirm_form = {**chat, "gToken": "", "gAction": "CONFIRM_QR"}
    while True:
        try:
            confirm = await http.get_json(
                f"{id_base}/account/authen/qr/waiting-confirm",
                method="POST",
                data=confirm_form,
                headers=headers,
            )
        except RequestTimeoutError:
            continue
        status = _code(confirm)
        if status == QR_WAIT_AGAIN:
            continue
        if status == QR_DECLINED:
            await _emit(on_event, QrDeclined(code=code))
            raise QrDeclinedError("the login was declined on the phone")
        if status != 0:
            raise _QrCodeGoneError
        return


def _code(body: Any) -> int:
    if not isinstance(body, Mapping):
        raise ProtocolError("QR login answer is not a JSON object")
    try:
        return int(body.get("error_code", 0) or 0)
    except (TypeError, ValueError):
        raise ProtocolError("QR login error_code is not a number") from None


def http_credentials(http: PersonalHttp, base: Credentials) -> Credentials:
    """``base`` with the cookies the jar holds now (refreshed ones included)."""
    return Credentials(
        imei=base.imei,
        cookies=http.jar.to_json(),
        user_agent=http.user_agent,
        language=base.language,
    )


async def login_cookie(
    http: PersonalHttp,
    credentials: Credentials,
    *,
    now_ms: int | None = None,
    zcid_ext: str | None = None,
) -> Session:
    """Log in with saved credentials; attach and return the `Session`.

    The jar of ``http`` is loaded from ``credentials`` unless it already holds cookies
    (after a QR login); its user agent must be the one the credentials were made with.

    Raises:
        SessionExpiredError: the cookies are no longer valid (code 600).
        ApiError: another error code.
        LoginError: the answers lack the login info or the server info.
        CryptoError: the login answer does not decrypt.
    """
    if credentials.user_agent != http.user_agent:
        raise LoginError(
            "credentials.user_agent differs from the HTTP user agent; the imei is bound to it"
        )
    if not len(http.jar):
        http.jar = CookieJar(credentials.cookies)
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    query = build_login_query(
        credentials.imei,
        language=credentials.language,
        client_version=http.client_version,
        now_ms=stamp,
        zcid_ext=zcid_ext or random_zcid_ext(),
    )
    wpa = http.endpoints.wpa_base
    path = "/api/login/getLoginInfo"
    outer = await http.get_json(wpa + path, query=query.pairs)
    if not isinstance(outer, Mapping):
        raise ProtocolError(f"login answer is not a JSON object ({path})")
    code = int(outer.get("error_code", 0) or 0)
    if code != 0:
        # zca-js ignores this code and then fails to decrypt; we say what happened.
        raise api_error(code, str(outer.get("error_message") or ""), path=path, outer=True)
    data = outer.get("data")
    if not isinstance(data, str):
        raise LoginError("login failed: getLoginInfo returned no data")
    try:
        decrypted = decrypt_login_response(query.key, data)
    except CryptoError as exc:
        raise CryptoError(f"{exc} ({path})") from None
    if not isinstance(decrypted, Mapping):
        raise ProtocolError(f"login info is not a JSON object ({path})")
    inner_code = int(decrypted.get("error_code", 0) or 0)
    if inner_code != 0:
        message = str(decrypted.get("error_message") or "")
        raise api_error(inner_code, message, path=path, outer=False)
    info = decrypted.get("data")
    if not isinstance(info, Mapping) or not info.get("uid") or not info.get("zpw_enk"):
        raise LoginError("login failed: login info lacks uid or zpw_enk")

    server_path = "/api/login/getServerInfo"
    server = await http.get_json(
        wpa + server_path,
        query=build_server_info_query(credentials.imei, client_version=http.client_version),
    )
    server_data = server.get("data") if isinstance(server, Mapping) else None
    if not isinstance(server_data, Mapping):
        message = str(server.get("error_message") or "") if isinstance(server, Mapping) else ""
        raise LoginError(f"Failed to fetch server info: {message or 'no data'}")
    # Zalo spells it "setttings"; accept both.
    settings = server_data.get("setttings") or server_data.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise ProtocolError(f"server settings are not an object ({server_path})")
    raw_map = info.get("zpw_service_map_v3") or {}
    service_map = {
        str(k): tuple(str(u) for u in v)
        for k, v in (raw_map.items() if isinstance(raw_map, Mapping) else [])
        if isinstance(v, list)
    }
    ws = info.get("zpw_ws") or []
    session = Session(
        uid=str(info["uid"]),
        imei=credentials.imei,
        secret_key=str(info["zpw_enk"]),
        user_agent=credentials.user_agent,
        language=credentials.language,
        client_version=http.client_version,
        service_map=service_map,
        ws_urls=tuple(str(u) for u in ws) if isinstance(ws, list) else (),
        settings=dict(settings),
        login_info={**info, "extra_ver": server_data.get("extra_ver") or {}},
    )
    http.attach(session)
    return session
