"""A small RFC 6265 cookie jar that speaks tough-cookie's JSON.

zca-js (and so every saved OpenClaw ``zalouser`` credential) stores cookies as tough-cookie
dicts; browser extensions export ``name``/``value``/``domain``/``expirationDate``. This jar
imports both, sends cookies by the *request URL* (domain, path, secure, expiry) and keeps
every ``Set-Cookie`` it sees so refreshed cookies are persisted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zalogate.personal.session import parse_cookie_json

__all__ = ["CookieJar"]

_SECURE_SCHEMES = frozenset({"https", "wss"})


def _parse_expiry(value: Any) -> float | None:
    """Seconds since the epoch of a tough-cookie ``expires`` (ISO string or number)."""
    if value is None or value == "Infinity":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Browser exports use seconds; a value this large is milliseconds.
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
    return None


def _iso(ts: float) -> str:
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _domain_match(host: str, domain: str, host_only: bool) -> bool:
    if host == domain:
        return True
    return not host_only and not _is_ip(host) and host.endswith("." + domain)


def _path_match(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def _default_path(request_path: str) -> str:
    if not request_path.startswith("/") or request_path.count("/") <= 1:
        return "/"
    return request_path[: request_path.rindex("/")]


class CookieJar:
    """Cookies keyed by (domain, path, name), in tough-cookie dict shape."""

    def __init__(self, cookies: Iterable[Mapping[str, Any]] = ()) -> None:
        self._cookies: dict[tuple[str, str, str], dict[str, Any]] = {}
        # header_for answers, per (url without query, now-independent part), until the jar
        # changes or a chosen cookie expires: every API call asks, the jar rarely changes.
        self._headers: dict[str, tuple[str, float]] = {}
        for cookie in parse_cookie_json(list(cookies)):
            self._store(cookie)

    def __repr__(self) -> str:
        return f"CookieJar(<{len(self._cookies)} cookies>)"

    def __len__(self) -> int:
        return len(self._cookies)

    def names(self) -> set[str]:
        """Names of the cookies held (values are never exposed by this method)."""
        return {c["key"] for c in self._cookies.values()}

    def _store(self, cookie: dict[str, Any]) -> None:
        cookie = dict(cookie)
        cookie["domain"] = str(cookie.get("domain") or "").lower().lstrip(".")
        if "hostOnly" not in cookie:
            # An imported cookie without the flag applies to subdomains (browser exports).
            cookie["hostOnly"] = False
        self._headers.clear()
        self._cookies[(cookie["domain"], cookie.get("path") or "/", cookie["key"])] = cookie

    # ---------------------------------------------------------------- JSON formats

    @classmethod
    def from_json(cls, data: Any) -> CookieJar:
        """Import a tough-cookie jar, a bare list, or browser-extension JSON.

        Raises:
            ValueError: naming the offending index and key.
        """
        jar = cls()
        for cookie in parse_cookie_json(data):
            jar._store(cookie)
        return jar

    def to_json(self) -> list[dict[str, Any]]:
        """Every unexpired cookie as a tough-cookie dict."""
        now = time.time()
        out = []
        for cookie in self._cookies.values():
            expiry = _parse_expiry(cookie.get("expires"))
            if expiry is None or expiry > now:
                out.append(dict(cookie))
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``{"cookies": [...]}`` (tough-cookie jar shape) with file mode 0600."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"cookies": self.to_json()}, fh, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CookieJar:
        """Read a file written by `save` (or any supported cookie JSON)."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_json(json.load(fh))

    # ---------------------------------------------------------------- HTTP

    def set_cookie(self, header: str, request_url: str, *, now: float | None = None) -> None:
        """Store one ``Set-Cookie`` header value received for ``request_url``.

        Cookies for a domain the request host does not belong to are ignored (RFC 6265).
        """
        parts = [p.strip() for p in header.split(";")]
        if not parts or "=" not in parts[0]:
            return
        name, _, value = parts[0].partition("=")
        name = name.strip()
        if not name:
            return
        url = urlsplit(request_url)
        host = (url.hostname or "").lower()
        cookie: dict[str, Any] = {
            "key": name,
            "value": value.strip().strip('"'),
            "path": _default_path(url.path or "/"),
            "domain": host,
            "hostOnly": True,
            "secure": False,
            "httpOnly": False,
        }
        expiry: float | None = None
        max_age: float | None = None
        for attr in parts[1:]:
            key, _, val = attr.partition("=")
            key = key.strip().lower()
            val = val.strip()
            if key == "domain" and val:
                domain = val.lower().lstrip(".")
                if not _domain_match(host, domain, host_only=False):
                    return
                cookie["domain"] = domain
                cookie["hostOnly"] = False
            elif key == "path" and val.startswith("/"):
                cookie["path"] = val
            elif key == "expires":
                expiry = _parse_expiry(val)
            elif key == "max-age":
                try:
                    max_age = float(val)
                except ValueError:
                    continue
            elif key == "secure":
                cookie["secure"] = True
            elif key == "httponly":
                cookie["httpOnly"] = True
            elif key == "samesite" and val:
                cookie["sameSite"] = val.lower()
        current = time.time() if now is None else now
        if max_age is not None:
            expiry = current + max_age
        slot = (cookie["domain"], cookie["path"], name)
        self._headers.clear()
        if expiry is not None and expiry <= current:
            self._cookies.pop(slot, None)
            return
        if expiry is not None:
            cookie["expires"] = _iso(expiry)
        self._cookies[slot] = cookie

    def header_for(self, url: str, *, now: float | None = None) -> str:
        """The ``Cookie`` header value for a request to ``url`` (may be empty)."""
        current = time.time() if now is None else now
        where = url.partition("?")[0].partition("#")[0]
        known = self._headers.get(where)
        if known is not None and current < known[1]:
            return known[0]
        header, valid_until = self._choose(where, current)
        if len(self._headers) > 256:
            self._headers.clear()
        self._headers[where] = (header, valid_until)
        return header

    def _choose(self, url: str, current: float) -> tuple[str, float]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        secure = parts.scheme in _SECURE_SCHEMES
        chosen = []
        valid_until = float("inf")
        for cookie in self._cookies.values():
            if not _domain_match(host, cookie["domain"], bool(cookie.get("hostOnly"))):
                continue
            if not _path_match(path, cookie.get("path") or "/"):
                continue
            if cookie.get("secure") and not secure:
                continue
            expiry = _parse_expiry(cookie.get("expires"))
            if expiry is not None:
                if expiry <= current:
                    continue
                valid_until = min(valid_until, expiry)
            chosen.append(cookie)
        chosen.sort(key=lambda c: -len(c.get("path") or "/"))
        return "; ".join(f"{c['key']}={c['value']}" for c in chosen), valid_until
