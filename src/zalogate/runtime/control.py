"""The gateway's control endpoint: what the server and its clients (the CLI) share.

A running gateway restarts or stops one channel account on request:

* ``POST /control/accounts/{channel}/{account}/restart`` — stop the account's monitor if it
  runs, forget its restart delays and start it again now (also a ``failed`` account, or one
  waiting in backoff);
* ``POST /control/accounts/{channel}/{account}/stop`` — stop it and leave it stopped (body,
  optional: ``{"reason": "stopped by channels logout"}``).

Requests need ``Authorization: Bearer <token>``. The gateway makes a new token at every start
(:func:`new_token`), writes it to ``<state dir>/gateway.token`` (mode 0600 from the first byte)
once it serves, and removes the file when it stops cleanly. Only loopback clients are
answered, and never a request that came through a proxy (forwarding headers): the token file
is the proof of being the gateway's user on the gateway's machine.

This module holds no server code (the endpoint itself lives in :mod:`zalogate.runtime.http`),
so that the CLI can use :func:`account_action` without importing uvicorn or starlette.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx2

from zalogate.runtime.status import AccountStatus
from zalogate.store import write_private_file

__all__ = [
    "ACTIONS",
    "CONTROL_PREFIX",
    "TOKEN_FILENAME",
    "AccountControl",
    "ControlError",
    "ControlResult",
    "ControlUnavailableError",
    "UnknownAccountError",
    "account_action",
    "account_path",
    "bearer_matches",
    "client_refusal",
    "is_control_path",
    "new_token",
    "read_token_file",
    "remove_token_file",
    "token_path",
    "write_token_file",
]

CONTROL_PREFIX = "/control"
"""Reserved on the gateway's HTTP server: no channel may mount a route at or below it."""
TOKEN_FILENAME = "gateway.token"  # noqa: S105 - a file name
ACTIONS = ("restart", "stop")
DEFAULT_TIMEOUT = 20.0
"""Seconds a client waits for an answer (a stop waits for the monitor to finish)."""

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


class UnknownAccountError(LookupError):
    """The gateway runs no such channel, or no such (enabled) account of it."""


class ControlUnavailableError(RuntimeError):
    """The gateway cannot act now (it is stopping, or the old monitor did not stop)."""


class AccountControl(Protocol):
    """What the control endpoint asks of the gateway (:class:`~zalogate.runtime.Gateway`)."""

    async def restart_account(self, channel: str, account_id: str) -> AccountStatus:
        """Restart one account's monitor now; return its new status."""
        ...

    async def stop_account(
        self, channel: str, account_id: str, *, reason: str | None = None
    ) -> AccountStatus:
        """Stop one account's monitor and keep it stopped; return its new status."""
        ...


# -- the token file -------------------------------------------------------------------------


def new_token() -> str:
    """A fresh random control token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_path(state_dir: Path) -> Path:
    """``<state dir>/gateway.token``."""
    return Path(state_dir) / TOKEN_FILENAME


def write_token_file(state_dir: Path, token: str) -> Path:
    """Write ``token`` to the token file atomically; the file is 0600 from its first byte."""
    return write_private_file(token_path(state_dir), token.encode("ascii") + b"\n")


def read_token_file(state_dir: Path) -> str | None:
    """The token in the token file, or None when there is no (readable, non-empty) file."""
    path = token_path(state_dir)
    try:
        if path.is_symlink():
            return None
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def remove_token_file(state_dir: Path, token: str) -> None:
    """Delete the token file if it still holds ``token`` (not another gateway's)."""
    current = read_token_file(state_dir)
    if current is not None and hmac.compare_digest(current.encode(), token.encode()):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(token_path(state_dir))


# -- request checks (used by the endpoint) ---------------------------------------------------


def is_control_path(path: str) -> bool:
    """True for ``/control`` and every path below it."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def client_refusal(client_host: str | None, headers: Mapping[str, str]) -> str | None:
    """Why a request may not use the control endpoint, or None when it may.

    Only loopback clients (127.0.0.0/8, ::1, ::ffff:127.x) are answered, and only when the
    request carries no forwarding header: a reverse proxy that exposes the gateway's port
    connects from loopback too, and says so in those headers.
    """
    if not client_host:
        return "the control endpoint answers loopback clients only"
    try:
        address = ipaddress.ip_address(client_host.split("%", 1)[0])
    except ValueError:
        return "the control endpoint answers loopback clients only"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_loopback:
        return "the control endpoint answers loopback clients only"
    lowered = {key.lower() for key in headers}
    if any(name in lowered for name in _FORWARDING_HEADERS):
        return "the control endpoint does not answer requests through a proxy"
    return None


def bearer_matches(authorization: str | None, token: str) -> bool:
    """True when ``authorization`` is ``Bearer <token>`` (compared in constant time)."""
    if not authorization or not token:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


# -- the client -------------------------------------------------------------------------------


class ControlError(Exception):
    """A control request failed; the message is meant for the user (it never holds the token).

    Attributes:
        status_code: The gateway's HTTP status, or None when it could not be reached.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def unreachable(self) -> bool:
        """True when no gateway answered at all."""
        return self.status_code is None


@dataclass(frozen=True, slots=True)
class ControlResult:
    """The gateway's answer to a successful control request."""

    action: str
    account: Mapping[str, Any]
    """The account's new status, as ``/healthz`` shows it (``state``, ``lastError``, ...)."""

    @property
    def state(self) -> str:
        """The account's state after the action (``running``, ``stopped``, ...)."""
        return str(self.account.get("state") or "unknown")


def account_path(channel: str, account_id: str, action: str) -> str:
    """``/control/accounts/<channel>/<account>/<action>`` (the ids percent-encoded)."""
    return (
        f"{CONTROL_PREFIX}/accounts/{quote(channel, safe='')}/{quote(account_id, safe='')}/{action}"
    )


async def account_action(
    base_url: str,
    token: str,
    channel: str,
    account_id: str,
    action: str,
    *,
    reason: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT,
) -> ControlResult:
    """Ask the gateway at ``base_url`` to ``restart`` or ``stop`` one account.

    Raises:
        ControlError: No gateway answered (``unreachable``), or it refused or failed the
            request (the gateway's own message, with its status code).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    body = {"reason": reason} if reason else None
    headers = {"Authorization": f"Bearer {token}"}
    url = base_url.rstrip("/") + account_path(channel, account_id, action)
    try:
        async with httpx2.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            response = await client.post(url, json=body, headers=headers)
    except httpx2.HTTPError as exc:
        raise ControlError(f"no gateway answered at {base_url} ({type(exc).__name__})") from None
    except OSError as exc:
        raise ControlError(f"no gateway answered at {base_url} ({exc.strerror or exc})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    message = answer.get("error") if isinstance(answer, Mapping) else None
    if response.status_code != 200 or not isinstance(answer, Mapping):
        if response.status_code == 401:
            message = "the gateway refused the control token (is it another gateway's?)"
        detail = message or f"HTTP {response.status_code}"
        raise ControlError(
            f"the gateway at {base_url} refused to {action} {channel}/{account_id}: {detail}",
            status_code=response.status_code,
        )
    record = answer.get("account")
    return ControlResult(action, record if isinstance(record, Mapping) else {})
