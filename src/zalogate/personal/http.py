"""``PersonalHttp``: the one HTTP seam of the personal-account client.

Everything that goes over HTTP passes through here: default headers (reference §2.7),
cookies chosen by request URL from our `CookieJar` (and every ``Set-Cookie`` kept, also
across the manual redirect chain of QR login), and `PersonalHttp.call`, the encrypted
session call that maps HTTP failures, outer and inner ``error_code`` to exceptions. Nothing
above this module looks at raw HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.cookiejar
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus, urljoin, urlsplit

import httpx2

from zalogate.net.answer import Answer
from zalogate.net.tls import shared_tls_context
from zalogate.net.transport import LeanTransport, maybe_sent
from zalogate.personal.cookies import CookieJar
from zalogate.personal.crypto import (
    API_TYPE,
    decrypt_session_payload,
    encrypt_session_params,
)
from zalogate.personal.errors import (
    ConfigurationError,
    CryptoError,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    RequestTimeoutError,
    api_error,
)
from zalogate.personal.session import DEFAULT_CLIENT_VERSION, Endpoints, Session

__all__ = ["DEFAULT_USER_AGENT", "PersonalHttp", "QueryPairs"]

#: zca-js's default user agent; any stable browser UA works (the imei embeds its MD5).
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
QueryPairs = Sequence[tuple[str, str]]
FileParts = Mapping[str, tuple[str, bytes, str]]

_MAX_REDIRECTS = 10
#: Connections kept per client, all kept alive (a connection closed and reopened per burst
#: costs more than the calls on it), and the most calls handed to the pool at once.
_POOL_SIZE = 20


class PersonalHttp:
    """Async HTTP client for the Zalo Web endpoints.

    Args:
        user_agent: the browser user agent the cookies and imei are bound to.
        jar: cookies to start with (a fresh jar if omitted).
        language: ``vi`` or ``en``.
        client_version: ``zpw_ver`` / ``client_version`` sent on every call.
        endpoints: login hosts (service hosts come from the session's service map).
        timeout_s: per-request deadline.
        transport: an ``httpx2`` transport (tests: ``MockTransport``).
        proxy: optional proxy URL.
    """

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        jar: CookieJar | None = None,
        language: str = "vi",
        client_version: int = DEFAULT_CLIENT_VERSION,
        endpoints: Endpoints | None = None,
        timeout_s: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        proxy: str | None = None,
    ) -> None:
        if not user_agent:
            raise ConfigurationError("user_agent must not be empty")
        if client_version <= 0:
            raise ConfigurationError(f"client_version must be positive, got {client_version}")
        self._user_agent = user_agent
        self.proxy = proxy or None
        """The proxy of the HTTP calls, which the listener's websocket also uses."""
        self.jar = jar if jar is not None else CookieJar()
        self.language = language
        self.client_version = client_version
        self.endpoints = endpoints or Endpoints()
        self._session: Session | None = None
        # Without a proxy or a test transport, session calls (`call`) go straight to the lean
        # pool, past httpx2's client layer (URL and header models: most of a call's CPU).
        self._lean: LeanTransport | None = None
        if transport is None and not proxy:
            transport = self._lean = LeanTransport(
                ssl_context=shared_tls_context(), max_connections=_POOL_SIZE
            )
        self._client = httpx2.AsyncClient(
            # httpx2 keeps its own jar by default: one that stores and sends nothing, so that
            # `jar` is the only cookie store and replacing it takes effect on every request.
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
            timeout=timeout_s,
            transport=transport,
            proxy=proxy,
            follow_redirects=False,
            trust_env=False,
            verify=shared_tls_context(),
            limits=httpx2.Limits(max_connections=_POOL_SIZE, max_keepalive_connections=_POOL_SIZE),
        )
        self._timeout_s = timeout_s
        self._lean_headers = tuple(self.default_headers().items())
        self._suffix: tuple[int, str] | None = None
        # httpx2's own pool (proxy, test transports) rescans its queued requests on every one
        # it assigns or finishes; a burst of calls waits on this semaphore instead, so that
        # queue stays short. LeanTransport queues its waiters itself.
        self._slots = asyncio.Semaphore(_POOL_SIZE) if self._lean is None else None

    def __repr__(self) -> str:
        return f"PersonalHttp(client_version={self.client_version}, jar={self.jar!r})"

    async def __aenter__(self) -> PersonalHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # ---------------------------------------------------------------- state

    @property
    def user_agent(self) -> str:
        """The user agent sent on every request (and on the websocket upgrade)."""
        return self._user_agent

    def cookie_header(self, url: str) -> str:
        """The ``Cookie`` header value the jar holds for ``url`` (http(s) or ws(s))."""
        return self.jar.header_for(url)

    def websocket_cookie_header(self, ws_url: str) -> str:
        """The ``Cookie`` header for the websocket upgrade to ``ws_url``.

        The cookies matching ``ws_url`` itself, or, if none do (a ``ws://127.0.0.1``
        override while the cookies belong to ``zalo.me``), those for
        ``https://chat.zalo.me/``, which is what the web client sends.
        """
        return self.jar.header_for(ws_url) or self.jar.header_for("https://chat.zalo.me/")

    @property
    def session(self) -> Session:
        """The attached session.

        Raises:
            ConfigurationError: before a login attached one.
        """
        if self._session is None:
            raise ConfigurationError("not logged in: call login_qr() or login_cookie() first")
        return self._session

    def attach(self, session: Session) -> None:
        """Use ``session``'s key for `call` from now on."""
        self._session = session

    def default_headers(self) -> dict[str, str]:
        """The web client's headers for session calls (reference §2.7)."""
        return {
            "Accept": "application/json, text/plain, */*",
            # The web client also offers br and zstd; we only offer what httpx2 can decode here.
            "Accept-Encoding": "gzip, deflate",
            "Accept-Language": "en-US,en;q=0.9",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://chat.zalo.me",
            "Referer": "https://chat.zalo.me/",
            "User-Agent": self._user_agent,
        }

    # ---------------------------------------------------------------- raw requests

    async def request(
        self,
        method: str,
        url: str,
        *,
        query: QueryPairs = (),
        data: Mapping[str, str] | None = None,
        files: FileParts | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx2.Response:
        """Send one request with jar cookies; keep ``Set-Cookie``; follow ``Location``.

        Redirects are followed by hand (GET, ``Referer: https://id.zalo.me/``) so that the
        cookies of every hop are stored, as the web client does on ``checksession``.

        Raises:
            RequestTimeoutError: the deadline passed.
            NetworkError: the connection failed.
        """
        merged = self.default_headers()
        if headers:
            merged.update(headers)
        if files is not None:
            merged.pop("Content-Type", None)
        response = await self._send(method, url, query, data, files, merged)
        if follow_redirects and response.is_redirect:
            return await self._follow(url, str(response.request.url), response, merged)
        return response

    async def _follow(
        self, url: str, current: str, response: Answer, headers: dict[str, str]
    ) -> httpx2.Response:
        """Follow ``Location`` from ``response`` (the answer to ``current``) by GET hops."""
        hops = 0
        hop_headers = {**headers, "Referer": "https://id.zalo.me/"}
        hop_headers.pop("Content-Type", None)
        while True:
            hops += 1
            if hops > _MAX_REDIRECTS:
                raise ProtocolError(f"too many redirects ({_path(url)})")
            location = response.headers.get("location")
            assert location is not None  # is_redirect
            current = urljoin(current, location)
            hop = await self._send("GET", current, (), None, None, hop_headers)
            if not hop.is_redirect:
                return hop
            response = hop

    async def _send(
        self,
        method: str,
        url: str,
        query: QueryPairs,
        data: Mapping[str, str] | None,
        files: FileParts | None,
        headers: dict[str, str],
    ) -> httpx2.Response:
        full = _with_query(url, query)
        cookie = self.jar.header_for(full)
        send_headers = dict(headers)
        if cookie:
            send_headers["Cookie"] = cookie
        async with self._pooled(method, url):
            response = await self._client.request(
                method,
                full,
                data=dict(data) if data is not None else None,
                files=dict(files) if files is not None else None,
                headers=send_headers,
            )
        for header in response.headers.get_list("set-cookie"):
            self.jar.set_cookie(header, str(response.request.url))
        return response

    @contextlib.asynccontextmanager
    async def _pooled(self, method: str, url: str) -> AsyncIterator[None]:
        """One of the pool's places (waited for within the deadline) for one exchange; the
        transport's errors become ours (the URL, which may hold keys, is left out)."""
        slots = self._slots
        if slots is None:
            pass  # LeanTransport: its pool timeout is the deadline (PoolTimeout below)
        elif slots.locked():
            try:
                async with asyncio.timeout(self._timeout_s):
                    await slots.acquire()
            except TimeoutError:
                raise RequestTimeoutError(f"timed out: {method} {_path(url)}") from None
        else:
            await slots.acquire()  # a free place: returns at once
        try:
            yield
        except httpx2.TimeoutException as exc:
            raise RequestTimeoutError(
                f"timed out: {method} {_path(url)}", maybe_sent=maybe_sent(exc)
            ) from None
        except httpx2.TransportError as exc:
            host = urlsplit(url).hostname or "Zalo"
            raise NetworkError(
                f"cannot reach {host} ({type(exc).__name__}): {method} {_path(url)}",
                maybe_sent=maybe_sent(exc),
            ) from None
        finally:
            if slots is not None:
                slots.release()

    async def _send_lean(
        self, lean: LeanTransport, method: str, url: str, full: str, content: bytes
    ) -> Answer:
        """`request` for a session call, through `LeanTransport.request` (same headers).

        ``full`` is ``url`` with its encoded query; ``content`` the encoded form body.
        """
        headers: Iterable[tuple[str, str]] = self._lean_headers
        cookie = self.jar.header_for(full)
        if cookie:
            headers = (*self._lean_headers, ("Cookie", cookie))
        async with self._pooled(method, url):
            response = await lean.request(method, full, headers, content, timeout=self._timeout_s)
        for header in response.headers.get_list("set-cookie"):
            self.jar.set_cookie(header, full)
        if response.is_redirect:
            return await self._follow(url, full, response, dict(headers))
        return response

    async def get_json(
        self,
        url: str,
        *,
        query: QueryPairs = (),
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """Request ``url`` and parse a JSON answer (HTTP status checked).

        Raises:
            HttpStatusError: non-2xx.
            ProtocolError: the body is not JSON.
        """
        response = await self.request(method, url, query=query, headers=headers, data=data)
        return _json_body(response, _path(url))

    # ---------------------------------------------------------------- the encrypted seam

    async def call(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        query: QueryPairs = (),
        files: FileParts | None = None,
        encrypted_response: bool = True,
        params_in_query: bool | None = None,
    ) -> Any:
        """Call a session endpoint; return the inner ``data``.

        ``params`` are encrypted with the session key and sent as ``params`` (query for GET
        and multipart uploads, form body for other POSTs); ``zpw_ver`` and ``zpw_type`` are
        appended unless present.

        Raises:
            HttpStatusError: non-2xx status.
            ApiError: outer or inner ``error_code != 0`` (`SessionExpiredError` for 600).
            ProtocolError: the answer is not the envelope.
            CryptoError: the answer does not decrypt with the session key.
        """
        session = self.session
        path = _path(url)
        sealed = None if params is None else encrypt_session_params(session.secret_key, params)
        lean = self._lean
        if lean is not None and files is None:
            # The hot path: the form text is built directly (same bytes as form_encode of
            # the pairs below), without a list of pairs per call.
            in_query = method == "GET" if params_in_query is None else params_in_query
            parts = [form_encode(query)] if query else []
            content = b""
            if sealed is not None:
                if in_query:
                    parts.append("params=" + sealed.translate(_FORM_TABLE))
                else:
                    content = b"params=" + sealed.translate(_FORM_TABLE).encode("ascii")
            suffix = self._zpw_suffix(query)
            if suffix:
                parts.append(suffix)
            full = url + ("&" if "?" in url else "?") + "&".join(parts)
            response: Answer = await self._send_lean(lean, method, url, full, content)
        else:
            pairs = list(query)
            body: dict[str, str] | None = None
            if sealed is not None:
                in_query = (
                    (method == "GET" or files is not None)
                    if params_in_query is None
                    else (params_in_query)
                )
                if in_query:
                    pairs.append(("params", sealed))
                else:
                    body = {"params": sealed}
            pairs.extend(self._zpw_pairs(query))
            response = await self.request(method, url, query=pairs, data=body, files=files)
        outer = _json_body(response, path)
        return open_envelope(outer, session.secret_key, path=path, encrypted=encrypted_response)

    def _zpw_pairs(self, query: QueryPairs) -> list[tuple[str, str]]:
        """``zpw_ver`` and ``zpw_type``, unless ``query`` has them already."""
        names = {k for k, _ in query} if query else ()
        pairs = []
        if "zpw_ver" not in names:
            pairs.append(("zpw_ver", str(self.client_version)))
        if "zpw_type" not in names:
            pairs.append(("zpw_type", str(API_TYPE)))
        return pairs

    def _zpw_suffix(self, query: QueryPairs) -> str:
        """`_zpw_pairs` form-encoded (cached for the usual query without them)."""
        if query and any(k in ("zpw_ver", "zpw_type") for k, _ in query):
            return form_encode(self._zpw_pairs(query))
        cached = self._suffix
        if cached is None or cached[0] != self.client_version:
            cached = self._suffix = (self.client_version, form_encode(self._zpw_pairs(())))
        return cached[1]


def open_envelope(outer: Any, secret_key: str, *, path: str, encrypted: bool = True) -> Any:
    """Check the outer (and, if ``encrypted``, the inner) envelope; return the result data.

    Raises:
        ApiError: a non-zero ``error_code``.
        ProtocolError: malformed envelope.
        CryptoError: the inner envelope does not decrypt.
    """
    code, message = _error_of(outer, path, "outer")
    if code != 0:
        raise api_error(code, message, path=path, outer=True)
    data = outer.get("data")
    if not encrypted:
        return data
    if not isinstance(data, str):
        raise ProtocolError(f"expected an encrypted data string ({path})")
    try:
        inner = decrypt_session_payload(secret_key, data)
    except CryptoError as exc:
        raise CryptoError(f"{exc} ({path})") from None
    code, message = _error_of(inner, path, "inner")
    if code != 0:
        raise api_error(code, message, path=path, outer=False)
    return inner.get("data")


def _error_of(envelope: Any, path: str, which: str) -> tuple[int, str]:
    if type(envelope) is dict and envelope.get("error_code", 0) == 0:
        return 0, ""  # the usual answer (the message only matters with a non-zero code)
    if not isinstance(envelope, Mapping):
        raise ProtocolError(f"{which} envelope is not a JSON object ({path})")
    raw = envelope.get("error_code", 0)
    try:
        code = int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        raise ProtocolError(f"{which} error_code is not a number ({path})") from None
    return code, str(envelope.get("error_message") or "")


def _json_body(response: Answer, path: str) -> Any:
    if not response.is_success:
        raise HttpStatusError(response.status_code, path)
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"answer is not JSON ({path})") from None


@functools.lru_cache(maxsize=256)
def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or "/"


def _with_query(url: str, query: QueryPairs) -> str:
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + form_encode(query)


# application/x-www-form-urlencoded for ASCII text in one str.translate: the unreserved
# characters stay, a space becomes "+", everything else "%XX" (what ``quote_plus`` gives, but
# without a Python call per character: base64 ``params`` run to hundreds of characters).
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_TABLE = {
    code: (chr(code) if chr(code) in _UNRESERVED else "+" if code == 32 else f"%{code:02X}")
    for code in range(128)
}


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """``name=value&...`` as a browser encodes a form (``urllib.parse.urlencode`` output)."""
    return "&".join(f"{_form_quote(name)}={_form_quote(value)}" for name, value in pairs)


def _form_quote(text: str) -> str:
    if text.isascii():
        return text.translate(_FORM_TABLE)
    return quote_plus(text, safe="")
