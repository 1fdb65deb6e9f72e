"""OAuth v4 for Official Accounts: the consent link, the code exchange and the refresh.

``GET <oauth>/v4/oa/permission?app_id&redirect_uri&state[&code_challenge]`` is the link the OA
admin opens; Zalo calls ``redirect_uri`` back with ``code``, ``state`` and ``oa_id``. The code
(single use, 10 minutes) and later each refresh token (single use, about 3 months) are traded
at ``POST <oauth>/v4/oa/access_token``, a form post with the app secret in the ``secret_key``
header — never in the body or the URL.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx2

from zalogate.oa.errors import (
    ConfigurationError,
    MalformedResponseError,
    StateMismatchError,
)
from zalogate.oa.wire import DEFAULT_TIMEOUT, OAHttp, body_error, check_base_url, parse_body

__all__ = [
    "CONSENT_TTL",
    "DEFAULT_OAUTH_URL",
    "ConsentRequest",
    "OAuthClient",
    "TokenPair",
    "consent_from_json",
    "consent_to_json",
    "pkce_challenge",
    "pkce_verifier",
]

DEFAULT_OAUTH_URL = "https://oauth.zaloapp.com"
CONSENT_TTL = 600.0
"""Seconds a consent ``state`` stays usable (the authorisation code lives 10 minutes)."""
_TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 - a path, not a password


def pkce_verifier() -> str:
    """A PKCE code verifier: base64url (no padding) of 32 random bytes, 43 characters."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge: base64url (no padding) of the raw SHA-256 digest of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token, the refresh token that replaces it, and when the access token expires."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    """Epoch seconds."""

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """Whether the access token expires within ``seconds`` from ``now``."""
        return (time.time() if now is None else now) + seconds >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenPair:
        """Read the stored form (``KeyError``/``ValueError`` when it is not one)."""
        access, refresh = data["access_token"], data["refresh_token"]
        if not isinstance(access, str) or not isinstance(refresh, str) or not access:
            raise ValueError("not a token pair")
        return cls(access, refresh, float(data["expires_at"]))


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One consent link handed out: its ``state`` and PKCE verifier are kept until the callback."""

    url: str
    state: str
    verifier: str | None = field(repr=False)
    created_at: float


def consent_to_json(request: ConsentRequest) -> dict[str, Any]:
    """The stored form of a pending consent (its verifier is a secret: store it 0600)."""
    return {
        "url": request.url,
        "state": request.state,
        "verifier": request.verifier,
        "created_at": request.created_at,
    }


def consent_from_json(data: dict[str, Any]) -> ConsentRequest:
    """Read a stored pending consent (``KeyError``/``ValueError``/``TypeError`` if damaged)."""
    verifier = data["verifier"]
    if verifier is not None and not isinstance(verifier, str):
        raise ValueError("verifier")
    return ConsentRequest(str(data["url"]), str(data["state"]), verifier, float(data["created_at"]))


def _expires_in(value: object) -> float:
    # Zalo's own example gives "90000" as a string; numbers are accepted too.
    if isinstance(value, bool):
        raise ValueError("expires_in")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError("expires_in")


class OAuthClient:
    """The OAuth side of one Zalo app (``app_id`` + app secret key).

    Args:
        app_id: the app id from the developer console.
        secret_key: the app's Secret Key (sent only in the ``secret_key`` header).
        oauth_url: the OAuth host (tests: a ``FakeZaloOA``).
        pkce: add ``code_challenge`` to consent links (S256) and ``code_verifier`` to exchanges.
    """

    def __init__(
        self,
        app_id: str,
        secret_key: str,
        *,
        oauth_url: str = DEFAULT_OAUTH_URL,
        pkce: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        app_id, secret_key = app_id.strip(), secret_key.strip()
        if not app_id.isdigit():
            raise ConfigurationError("appId must be the numeric app id from the Zalo console.")
        if not secret_key:
            raise ConfigurationError("secretKey is empty: copy the app's Secret Key.")
        self.app_id = app_id
        self._secret = secret_key
        self._url = check_base_url(oauth_url, "oauth_url")
        self._pkce = pkce
        self._http = OAHttp(timeout=timeout, transport=transport)
        self._pending: dict[str, ConsentRequest] = {}

    def __repr__(self) -> str:
        return f"OAuthClient(app_id={self.app_id!r}, oauth_url={self._url!r})"

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def consent(self, redirect_uri: str, *, now: float | None = None) -> ConsentRequest:
        """A new consent link; its ``state`` is remembered for ``CONSENT_TTL`` seconds."""
        now = time.time() if now is None else now
        self._pending = {s: r for s, r in self._pending.items() if now - r.created_at < CONSENT_TTL}
        state = secrets.token_urlsafe(24)
        params = {"app_id": self.app_id, "redirect_uri": redirect_uri, "state": state}
        verifier = pkce_verifier() if self._pkce else None
        if verifier is not None:
            params["code_challenge"] = pkce_challenge(verifier)
        url = f"{self._url}/v4/oa/permission?{urllib.parse.urlencode(params)}"
        request = ConsentRequest(url, state, verifier, now)
        self._pending[state] = request
        return request

    def remember(self, request: ConsentRequest) -> None:
        """Accept a callback for ``request`` issued elsewhere (e.g. by ``channels login``)."""
        self._pending[request.state] = request

    def take_state(self, state: str, *, now: float | None = None) -> ConsentRequest:
        """The consent request ``state`` names, forgotten now (``StateMismatchError``)."""
        now = time.time() if now is None else now
        request = self._pending.pop(state, None)
        if request is None or now - request.created_at >= CONSENT_TTL:
            raise StateMismatchError(
                "the consent callback's state is unknown or older than 10 minutes; "
                "open a new consent link"
            )
        return request

    async def exchange(self, code: str, state: str, *, now: float | None = None) -> TokenPair:
        """Trade an authorisation code for a token pair, after checking ``state``."""
        request = self.take_state(state, now=now)
        form = {"app_id": self.app_id, "code": code, "grant_type": "authorization_code"}
        if request.verifier is not None:
            form["code_verifier"] = request.verifier
        return await self._token_call("exchange", form)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token (burned by this call) for a new pair."""
        form = {
            "app_id": self.app_id,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }
        return await self._token_call("refresh", form)

    async def _token_call(self, what: str, form: dict[str, str]) -> TokenPair:
        call = f"{_TOKEN_PATH} ({what})"
        response = await self._http.send(
            "POST",
            self._url + _TOKEN_PATH,
            call=call,
            headers={"secret_key": self._secret},
            data=form,
        )
        body = parse_body(call, response)
        access, refresh = body.get("access_token"), body.get("refresh_token")
        # Success only when both tokens are there: an HTTP 200 error body must never pass.
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            body_error(call, body, response.status_code)
            raise MalformedResponseError(call, "no token pair in the answer")
        try:
            lifetime = _expires_in(body.get("expires_in"))
        except ValueError:
            raise MalformedResponseError(call, "expires_in is not a number of seconds") from None
        return TokenPair(access, refresh, time.time() + lifetime)
