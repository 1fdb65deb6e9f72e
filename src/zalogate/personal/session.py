"""Session value objects shared by the HTTP, login and listener layers.

`Credentials` is what a caller persists between runs (imei, cookies, user agent,
language). `Session` is what a successful login yields: the uid, the session
secret (`zpw_enk`), the service map and websocket URLs. `Endpoints` makes every
host configurable so tests and protocol drift never need code changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["DEFAULT_CLIENT_VERSION", "Credentials", "Endpoints", "Session", "ThreadType"]

#: Zalo Web client version sent as `zpw_ver`; drifts, so always overridable.
DEFAULT_CLIENT_VERSION = 685


class ThreadType(StrEnum):
    """Kind of conversation; equal to the ``"user"``/``"group"`` strings events carry."""

    USER = "user"
    GROUP = "group"


def _normalise_cookie(raw: Any, index: int, where: str) -> dict[str, Any]:
    """Return one cookie as a tough-cookie style dict, or raise naming the index."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}[{index}]: expected an object, got {type(raw).__name__}")
    name = raw.get("key", raw.get("name"))
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}[{index}].key: missing cookie name")
    value = raw.get("value")
    if not isinstance(value, str):
        raise ValueError(f"{where}[{index}].value: expected a string")
    domain = raw.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise ValueError(f"{where}[{index}].domain: expected a string")
    path = raw.get("path") or "/"
    if not isinstance(path, str):
        raise ValueError(f"{where}[{index}].path: expected a string")
    expires: Any = raw.get("expires")
    if expires is None and "expirationDate" in raw:
        # Browser extensions export seconds since the epoch as a float.
        expires = raw.get("expirationDate")
    if expires is not None and not isinstance(expires, str | int | float):
        raise ValueError(f"{where}[{index}].expires: expected a date string or number")
    if isinstance(expires, bool):
        raise ValueError(f"{where}[{index}].expires: expected a date string or number")
    cookie: dict[str, Any] = {
        "key": name,
        "value": value,
        # tough-cookie stores domains without the leading dot.
        "domain": (domain or "zalo.me").lstrip("."),
        "path": path,
        "httpOnly": bool(raw.get("httpOnly", False)),
        "secure": bool(raw.get("secure", False)),
    }
    if isinstance(expires, int | float):
        # tough-cookie (and so zca-js) expects an ISO-8601 string.
        expires = (
            datetime.fromtimestamp(float(expires), tz=UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
    if expires is not None and expires != "Infinity":
        cookie["expires"] = expires
    host_only = raw.get("hostOnly")
    if isinstance(host_only, bool):
        cookie["hostOnly"] = host_only
    return cookie


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything needed to log in again without a QR scan.

    Persist `to_json()` as JSON with file mode 0600: the cookies are a live login.
    """

    imei: str
    cookies: list[dict[str, Any]] = field(repr=False)
    user_agent: str
    language: str = "vi"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (cookies in tough-cookie jar shape)."""
        return {
            "imei": self.imei,
            "cookies": {"cookies": [dict(c) for c in self.cookies]},
            "user_agent": self.user_agent,
            "language": self.language,
        }

    def to_zca_json(self) -> dict[str, Any]:
        """The same credentials in zca-js's shape (``{imei, cookie, userAgent, language}``).

        This is what zca-js's ``login()`` and OpenClaw's ``zalouser`` store and accept.
        """
        return {
            "imei": self.imei,
            "cookie": [dict(c) for c in self.cookies],
            "userAgent": self.user_agent,
            "language": self.language,
        }

    @classmethod
    def from_json(cls, data: Any) -> Credentials:
        """Parse credentials written by `to_json` (or by zca-js users).

        `cookies` may be a tough-cookie jar (`{"cookies": [...]}`), a bare list of
        tough-cookie dicts, or browser-extension cookie JSON (`name`, `value`,
        `domain`, `expirationDate`).

        Raises:
            ValueError: naming the offending key path.
        """
        if not isinstance(data, Mapping):
            raise ValueError("credentials: expected a JSON object")
        imei = data.get("imei")
        if not isinstance(imei, str) or not imei:
            raise ValueError("credentials.imei: missing or not a string")
        user_agent = data.get("user_agent", data.get("userAgent"))
        if not isinstance(user_agent, str) or not user_agent:
            raise ValueError("credentials.user_agent: missing or not a string")
        language = data.get("language", "vi")
        if not isinstance(language, str) or not language:
            raise ValueError("credentials.language: expected a string")
        raw_cookies = data.get("cookies", data.get("cookie"))
        cookies = parse_cookie_json(raw_cookies, where="credentials.cookies")
        return cls(imei=imei, cookies=cookies, user_agent=user_agent, language=language)


def parse_cookie_json(raw: Any, *, where: str = "cookies") -> list[dict[str, Any]]:
    """Normalise any supported cookie JSON shape to tough-cookie dicts.

    Raises:
        ValueError: naming `where` and the offending index.
    """
    if isinstance(raw, Mapping):
        raw = raw.get("cookies")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: expected a list of cookies or {{'cookies': [...]}}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        out.append(_normalise_cookie(item, i, where))
    return out


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in personal account session.

    Attributes:
        uid: The account's user id (string: ids exceed 2**53).
        imei: The device id the session was created with.
        secret_key: `zpw_enk`, base64 AES key for session params; never shown.
        user_agent: The user agent the cookies are bound to.
        language: `vi` or `en`.
        client_version: `zpw_ver` sent on every call.
        service_map: `zpw_service_map_v3`, service name to URL list.
        ws_urls: websocket URLs (`zpw_ws`).
        settings: `getServerInfo` settings (`features.socket` etc.).
        login_info: The full decrypted `getLoginInfo` data.
    """

    uid: str
    imei: str
    secret_key: str = field(repr=False)
    user_agent: str
    language: str
    client_version: int
    service_map: Mapping[str, Sequence[str]] = field(repr=False)
    ws_urls: tuple[str, ...]
    settings: Mapping[str, Any] = field(repr=False)
    login_info: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def service_url(self, name: str) -> str:
        """Return the first URL of service `name`.

        Raises:
            KeyError: with a message naming the service and the known ones.
        """
        urls = self.service_map.get(name)
        if not urls:
            known = ", ".join(sorted(self.service_map)) or "none"
            raise KeyError(f"service_map has no URL for service {name!r} (known: {known})")
        return str(urls[0])


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Every host the client talks to; override for fakes or protocol drift."""

    id_base: str = "https://id.zalo.me"
    wpa_base: str = "https://wpa.chat.zalo.me"
    jr_base: str = "https://jr.chat.zalo.me"
    ws_url_override: str | None = None
