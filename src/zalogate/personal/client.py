"""``ZaloPersonal``: the facade most users need.

::

    async with ZaloPersonal() as zp:
        session = await zp.login_qr(on_event=show_qr)   # or: await zp.login_cookie(creds)
        await zp.api.send_text(friend_id, "xin chào")
        zp.save_credentials("creds.json")               # JSON, mode 0600
        async with zp.listener() as listener:
            async for event in listener:
                ...
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx2

from zalogate.personal.api import PersonalApi
from zalogate.personal.cookies import CookieJar
from zalogate.personal.errors import ConfigurationError
from zalogate.personal.http import DEFAULT_USER_AGENT, PersonalHttp
from zalogate.personal.listener import FileDoneCallback, Listener
from zalogate.personal.login import QrEventHandler, http_credentials, login_cookie, login_qr
from zalogate.personal.session import DEFAULT_CLIENT_VERSION, Credentials, Endpoints, Session

__all__ = ["ZaloPersonal", "load_credentials", "save_credentials"]


def save_credentials(path: str | os.PathLike[str], credentials: Credentials) -> None:
    """Write ``credentials`` as JSON with file mode 0600 (atomically)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(credentials.to_json(), fh, ensure_ascii=False, indent=1)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Read credentials written by `save_credentials` (or by zca-js / OpenClaw).

    Raises:
        ValueError: the file is not credentials JSON (names the key path).
    """
    with open(path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return Credentials.from_json(data)


class ZaloPersonal:
    """A personal Zalo account: login, API calls, and the websocket listener.

    Args:
        credentials: saved credentials for `login_cookie` (optional).
        endpoints: login hosts and an optional websocket URL override.
        client_version: ``zpw_ver`` (Zalo Web's version; drifts).
        user_agent: browser user agent for a QR login (cookie logins reuse the saved one).
        language: ``vi`` or ``en``.
        timeout_s: per-request HTTP deadline.
        transport: an ``httpx2`` transport for tests.
        proxy: HTTP(S)/SOCKS proxy URL for the API calls and the websocket (Zalo binds a
            session to its IP).
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        endpoints: Endpoints | None = None,
        client_version: int = DEFAULT_CLIENT_VERSION,
        *,
        user_agent: str | None = None,
        language: str = "vi",
        timeout_s: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        proxy: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._proxy = proxy
        self.endpoints = endpoints or Endpoints()
        self.client_version = client_version
        self._user_agent = user_agent or (
            credentials.user_agent if credentials else DEFAULT_USER_AGENT
        )
        self._language = credentials.language if credentials else language
        self._timeout_s = timeout_s
        self._transport = transport
        self.http = self._new_http(self._user_agent, self._language)
        self._session: Session | None = None
        self._api: PersonalApi | None = None

    def __repr__(self) -> str:
        uid = self._session.uid if self._session else None
        return f"ZaloPersonal(uid={uid!r}, client_version={self.client_version})"

    def _new_http(self, user_agent: str, language: str) -> PersonalHttp:
        return PersonalHttp(
            user_agent=user_agent,
            language=language,
            client_version=self.client_version,
            endpoints=self.endpoints,
            timeout_s=self._timeout_s,
            transport=self._transport,
            proxy=self._proxy,
        )

    async def __aenter__(self) -> ZaloPersonal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close HTTP connections."""
        await self.http.aclose()

    # ---------------------------------------------------------------- login

    async def login_qr(
        self,
        on_event: QrEventHandler | None = None,
        *,
        qr_timeout_s: float = 100.0,
        max_renewals: int = 3,
    ) -> Session:
        """Log in by QR code (see `zalogate.personal.login.login_qr`)."""
        session, credentials = await login_qr(
            self.http, on_event=on_event, qr_timeout_s=qr_timeout_s, max_renewals=max_renewals
        )
        self._credentials = credentials
        return self._logged_in(session)

    async def login_cookie(self, credentials: Credentials | None = None) -> Session:
        """Log in with saved credentials (the constructor's if none given).

        Raises:
            ConfigurationError: no credentials at all.
            SessionExpiredError: the cookies are no longer valid.
        """
        creds = credentials or self._credentials
        if creds is None:
            raise ConfigurationError("login_cookie needs credentials")
        if (creds.user_agent, creds.language) != (self.http.user_agent, self.http.language):
            await self.http.aclose()
            self.http = self._new_http(creds.user_agent, creds.language)
        self.http.jar = CookieJar(creds.cookies)
        session = await login_cookie(self.http, creds)
        self._credentials = creds
        return self._logged_in(session)

    def _logged_in(self, session: Session) -> Session:
        self._session = session
        self._api = PersonalApi(session, self.http)
        return session

    # ---------------------------------------------------------------- state

    @property
    def session(self) -> Session:
        """The current session.

        Raises:
            ConfigurationError: not logged in yet.
        """
        if self._session is None:
            raise ConfigurationError("not logged in: call login_qr() or login_cookie() first")
        return self._session

    @property
    def api(self) -> PersonalApi:
        """Session endpoints (send, react, directory, ...).

        Raises:
            ConfigurationError: not logged in yet.
        """
        if self._api is None:
            raise ConfigurationError("not logged in: call login_qr() or login_cookie() first")
        return self._api

    def credentials(self) -> Credentials:
        """Credentials to persist, with the cookies as the jar holds them now.

        Raises:
            ConfigurationError: never logged in and none given.
        """
        if self._credentials is None:
            raise ConfigurationError("no credentials yet: log in first")
        return http_credentials(self.http, self._credentials)

    def save_credentials(self, path: str | os.PathLike[str]) -> None:
        """`credentials` written to ``path`` with mode 0600."""
        save_credentials(path, self.credentials())

    def listener(self, *, on_file_done: FileDoneCallback | None = None, **options: Any) -> Listener:
        """A websocket `Listener` for this session (not started; use ``async with``).

        It uses this client's cookies, user agent and ``endpoints.ws_url_override``, and
        feeds ``file_done`` controls to `PersonalApi.resolve_file_done` (so `send_file`
        works) before calling ``on_file_done``. Other keyword arguments go to `Listener`
        (``on_event``, ``reconnect``, ``self_listen``, ...).

        Raises:
            ConfigurationError: not logged in yet.
        """
        api = self.api

        def file_done(file_id: str, url: str) -> None:
            api.resolve_file_done(file_id, url)
            if on_file_done is not None:
                on_file_done(file_id, url)

        return Listener(
            self.session,
            self.http,
            endpoints=self.endpoints,
            on_file_done=file_done,
            proxy=self.http.proxy,
            **options,
        )
