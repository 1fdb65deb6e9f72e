"""Who may use the console: one-time login links, sessions, CSRF and the client address.

* A login link is signed with the gateway's control token (``gateway.token``, 0600, which
  only the gateway's user can read): ``/console/login?n=<nonce>&e=<expiry>&s=<hmac>``. The
  gateway accepts each nonce once, before its expiry: the nonces taken are kept in memory, or
  (in a cluster) taken with a compare-and-set in the cluster's KV, so the link works once on
  whichever node gets it first (:class:`UsedLinks`).
* A used link (or the operator password) opens a session: a random value in a cookie that is
  ``HttpOnly`` and ``SameSite=Strict``; the session is kept under the value's SHA-256, in
  memory and (with a :class:`~zalogate.console.sessions.SessionStore`) in the database, so a
  restart does not log anyone out. Sessions expire after 12 hours.
* Every state-changing request carries the session's CSRF token (form field ``csrf`` or
  header ``X-CSRF-Token``) and, when the browser sends one, an ``Origin`` of the console's
  own host.
* Clients other than loopback (or requests relayed by a proxy) are refused unless an
  operator password is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlencode, urlsplit

from zalogate.console.sessions import SessionStore, hash_cookie
from zalogate.runtime.control import client_refusal

__all__ = [
    "COOKIE_NAME",
    "LINK_TTL_S",
    "ConsoleAuth",
    "LinkRefusal",
    "MemoryUsedLinks",
    "Session",
    "SharedNotices",
    "UsedLinks",
    "login_link",
    "origin_matches",
]

COOKIE_NAME = "zalogate_console"
LINK_TTL_S = 300
"""Seconds a login link stays valid."""
SESSION_TTL_S = 12 * 3600
_MAX_SESSIONS = 64
_LOGIN_PATH = "/console/login"


def _signature(key: str, nonce: str, expiry: int) -> str:
    message = f"zalogate-console|{nonce}|{expiry}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def login_link(base_url: str, key: str, *, now: float | None = None) -> str:
    """A one-time console login link for the gateway at ``base_url`` whose token is ``key``."""
    nonce = secrets.token_urlsafe(16)
    expiry = int((time.time() if now is None else now) + LINK_TTL_S)
    query = urlencode({"n": nonce, "e": expiry, "s": _signature(key, nonce, expiry)})
    return f"{base_url.rstrip('/')}{_LOGIN_PATH}?{query}"


def origin_matches(origin: str | None, host: str | None) -> bool:
    """True when a browser's ``Origin`` names the host the request was sent to."""
    if origin is None:
        return True  # not a browser's cross-site request (CSRF token still required)
    if not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


LinkRefusal = Literal["link_invalid", "link_used"]
"""Why a login link opened no session (the login page's message)."""


class UsedLinks(Protocol):
    """The login links' nonces already taken."""

    async def take(self, nonce: str, until: float) -> bool:
        """True the first time ``nonce`` is taken (the link is valid until ``until``), False
        every time after."""
        ...


class MemoryUsedLinks:
    """:class:`UsedLinks` of this process (a single node)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._used: dict[str, float] = {}

    async def take(self, nonce: str, until: float) -> bool:
        now = self._clock()
        self._used = {n: t for n, t in self._used.items() if t >= now}
        if nonce in self._used:
            return False
        self._used[nonce] = until
        return True


class SharedNotices(Protocol):
    """Where a session's notices wait between an action's redirect and the next page when
    that page may come from another node (a cluster); one node keeps them in memory."""

    async def keep(self, session_key: str, notices: list[str]) -> None:
        """Keep ``notices`` for the session stored under ``session_key``."""
        ...

    async def take(self, session_key: str) -> list[str]:
        """The session's waiting notices, forgotten once taken."""
        ...


@dataclass(slots=True)
class Session:
    """One logged-in browser; ``id`` is the SHA-256 of its cookie (``cookie`` is known only
    to the request that opened the session)."""

    id: str
    csrf: str
    expires_at: float
    lang: str = "vi"
    flashes: list[str] = field(default_factory=list)
    cookie: str = field(default="", repr=False)


class ConsoleAuth:
    """Login links, sessions and the password (see the module docstring).

    Args:
        key: Returns the control token the links are signed with ("" while it is off).
        password: The operator password, or None (then only loopback clients are served).
        clock: Seconds since the epoch.
        store: Keeps sessions across restarts (None: memory only).
        links: The used login links (None: this process's memory).
    """

    def __init__(
        self,
        key: Callable[[], str],
        *,
        password: str | None = None,
        clock: Callable[[], float] = time.time,
        store: SessionStore | None = None,
        links: UsedLinks | None = None,
    ) -> None:
        self._key = key
        self._password = password or None
        self._clock = clock
        self._links = links or MemoryUsedLinks(clock)
        self._sessions: dict[str, Session] = {}
        self._store = store
        self._loaded = store is None

    async def load(self) -> None:
        """Read the stored sessions (once; later calls return at once)."""
        if self._loaded or self._store is None:
            return
        self._loaded = True
        for key, csrf, lang, expires_at in await self._store.load(self._clock()):
            self._sessions.setdefault(key, Session(key, csrf, expires_at, lang))

    async def lookup(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value, or None; read from a shared store on every
        call (another node may have opened or closed it)."""
        await self.load()
        if self._store is None or not self._store.shared or not cookie:
            return self.session(cookie)
        key = hash_cookie(cookie)
        record = await self._store.find(key, self._clock())
        if record is None:
            self._sessions.pop(key, None)
            return None
        _, csrf, lang, expires_at = record
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = Session(key, csrf, expires_at, lang)
        else:
            session.csrf, session.lang, session.expires_at = csrf, lang, expires_at
        return session

    async def settled(self) -> None:
        """Wait until the session writes made so far are stored."""
        if self._store is not None:
            await self._store.settled()

    def remember(self, session: Session) -> None:
        """Store ``session`` again after a change (its language)."""
        if self._store is not None:
            self._store.save(session)

    @property
    def has_password(self) -> bool:
        """Whether an operator password is configured."""
        return self._password is not None

    def refusal(self, client_host: str | None, headers: Mapping[str, str]) -> str | None:
        """Why this client may not use the console at all, or None."""
        if client_refusal(client_host, headers) is None or self.has_password:
            return None
        return (
            "the console answers loopback clients only; set gateway.console.password in the"
            " config to open it to other addresses"
        )

    def password_matches(self, given: str | None) -> bool:
        """Constant-time check of the operator password (False when none is set)."""
        if self._password is None or not given:
            return False
        return hmac.compare_digest(given.encode("utf-8"), self._password.encode("utf-8"))

    async def redeem(self, nonce: str, expiry: str, signature: str) -> Session | LinkRefusal:
        """A new session for a valid, unused, unexpired login link; else why not."""
        key = self._key()
        now = self._clock()
        try:
            expires = int(expiry)
        except ValueError:
            return "link_invalid"
        if not key or not nonce or expires < now or expires > now + LINK_TTL_S + 60:
            return "link_invalid"
        if not hmac.compare_digest(_signature(key, nonce, expires), signature):
            return "link_invalid"
        if not await self._links.take(nonce, float(expires)):
            return "link_used"
        return self.open_session()

    def open_session(self) -> Session:
        """A new session (the oldest is dropped beyond a bound)."""
        now = self._clock()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        while len(self._sessions) >= _MAX_SESSIONS:
            self.close(self._sessions[next(iter(self._sessions))])
        cookie = secrets.token_urlsafe(32)
        session = Session(
            id=hash_cookie(cookie),
            csrf=secrets.token_urlsafe(24),
            expires_at=now + SESSION_TTL_S,
            cookie=cookie,
        )
        self._sessions[session.id] = session
        self.remember(session)
        return session

    def session(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value, or None."""
        if not cookie:
            return None
        session = self._sessions.get(hash_cookie(cookie))
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    def close(self, session: Session) -> None:
        """Log ``session`` out."""
        self._sessions.pop(session.id, None)
        if self._store is not None:
            self._store.delete(session.id)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        """Whether ``given`` is the session's CSRF token."""
        return bool(given) and hmac.compare_digest(
            (given or "").encode("utf-8"), session.csrf.encode("utf-8")
        )
