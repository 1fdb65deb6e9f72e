"""The gateway's control endpoint: what the server and its clients (the CLI) share.

A running gateway restarts or stops one channel account on request:

* ``POST /control/accounts/{channel}/{account}/restart`` — stop the account's monitor if it
  runs, forget its restart delays and start it again now (also a ``failed`` account, or one
  waiting in backoff);
* ``POST /control/accounts/{channel}/{account}/stop`` — stop it and leave it stopped (body,
  optional: ``{"reason": "stopped by channels logout"}``);
* ``POST /control/messages/{channel}/{account}`` — send one message through the running
  account (body: :class:`MessageRequest` as JSON), so that ``message send`` uses the gateway's
  session and listener (Zalo confirms a personal account's file upload over the listener).
  200 with the delivery receipt (``{ok, channel, accountId, target, messageIds}``); 400 for a
  bad body, 404 unknown account, 409 account not running, 502 Zalo refused the send (with the
  ``messageIds`` that went out before the failure).
* ``POST /control/inbox/retry`` — put dead or failed inbox messages back in the queue (body:
  ``{"ids": [1, 2]}`` or ``{"allDead": true}``); 200 with ``{ok, requeued}``.

Requests need ``Authorization: Bearer <token>``. The gateway makes a new token at every start
(:func:`new_token`), writes it to ``<state dir>/gateway.token`` (mode 0600 from the first byte)
once it serves, and removes the file when it stops cleanly. Only loopback clients are
answered, and never a request that came through a proxy (forwarding headers): the token file
is the proof of being the gateway's user on the gateway's machine.

This module holds no server code (the endpoint itself lives in :mod:`zalogate.runtime.http`),
so that the CLI can use :func:`account_action` and :func:`send_message` without importing
uvicorn or starlette.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx2

from zalogate.core.channel import Channel, ChannelAccount
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.runtime.status import AccountStatus
from zalogate.store import write_private_file

__all__ = [
    "ACTIONS",
    "CONTROL_PREFIX",
    "INBOX_RETRY_PATH",
    "TOKEN_FILENAME",
    "AccountControl",
    "ControlError",
    "ControlResult",
    "ControlUnavailableError",
    "InboxControl",
    "MessageControl",
    "MessageRequest",
    "SendRefusedError",
    "UnknownAccountError",
    "account_action",
    "account_path",
    "bearer_matches",
    "client_refusal",
    "deliver",
    "inbox_retry",
    "is_control_path",
    "message_path",
    "new_token",
    "read_token_file",
    "remove_token_file",
    "send_message",
    "token_path",
    "write_token_file",
]

CONTROL_PREFIX = "/control"
"""Reserved on the gateway's HTTP server: no channel may mount a route at or below it."""
TOKEN_FILENAME = "gateway.token"  # noqa: S105 - a file name
ACTIONS = ("restart", "stop")
INBOX_RETRY_PATH = CONTROL_PREFIX + "/inbox/retry"
DEFAULT_TIMEOUT = 20.0
"""Seconds a client waits for an answer (a stop waits for the monitor to finish)."""
MESSAGE_TIMEOUT = 300.0
"""Seconds a client waits for a send (uploads, retries with backoff, Zalo's ``file_done``)."""
MAX_MEDIA_ITEMS = 20
MAX_MESSAGE_CHARS = 100_000

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


class UnknownAccountError(LookupError):
    """The gateway runs no such channel, or no such (enabled) account of it."""


class ControlUnavailableError(RuntimeError):
    """The gateway cannot act now (it is stopping, or the old monitor did not stop)."""


class SendRefusedError(Exception):
    """The channel (Zalo) did not deliver the message, or only part of it.

    Attributes:
        message_ids: The ids that went out before the failure (a partial delivery).
    """

    def __init__(self, message: str, *, message_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message_ids = message_ids


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


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """One message for ``POST /control/messages/{channel}/{account}``.

    JSON: ``{"target": str, "text": str, "media": [str], "link": str?, "replyTo": str?}``.
    Local media paths must be absolute (the CLI resolves them; the gateway reads the files).
    """

    target: str
    text: str = ""
    media: tuple[str, ...] = ()
    link: str | None = None
    reply_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request body."""
        body: dict[str, Any] = {"target": self.target, "text": self.text, "media": list(self.media)}
        if self.link is not None:
            body["link"] = self.link
        if self.reply_to:
            body["replyTo"] = self.reply_to
        return body

    @classmethod
    def from_json(cls, data: Any) -> MessageRequest:
        """Validate a request body.

        Raises:
            ValueError: What is wrong, naming the field (meant for the client).
        """
        if not isinstance(data, Mapping):
            raise ValueError("the body must be a JSON object {target, text, media, link?}")
        unknown = sorted(set(data) - {"target", "text", "media", "link", "replyTo"})
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        target = data.get("target")
        if not isinstance(target, str) or not target.strip():
            raise ValueError("target: a non-empty string is required")
        text = data.get("text", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ValueError("text: must be a string")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"text: longer than {MAX_MESSAGE_CHARS} characters")
        media = data.get("media", [])
        if media is None:
            media = []
        if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
            raise ValueError("media: must be a list of strings (URLs or absolute paths)")
        if len(media) > MAX_MEDIA_ITEMS:
            raise ValueError(f"media: at most {MAX_MEDIA_ITEMS} items")
        refs: list[str] = []
        for index, item in enumerate(media):
            ref = item.strip()
            if not ref:
                raise ValueError(f"media[{index}]: empty")
            if "://" not in ref:
                path = Path(ref)
                if not path.is_absolute():
                    raise ValueError(f"media[{index}]: a local path must be absolute")
                if not path.is_file():
                    raise ValueError(f"media[{index}]: no such file on the gateway's machine")
            refs.append(ref)
        link = data.get("link")
        if link is not None and (not isinstance(link, str) or not link.strip()):
            raise ValueError("link: must be a non-empty string")
        reply_to = data.get("replyTo")
        if reply_to is not None and not isinstance(reply_to, str):
            raise ValueError("replyTo: must be a string")
        if not text.strip() and not refs and link is None:
            raise ValueError("nothing to send: give text, media or link")
        return cls(
            target=target.strip(),
            text=text,
            media=tuple(refs),
            link=link.strip() if link else None,
            reply_to=reply_to or None,
        )


class InboxControl(Protocol):
    """What the inbox control route needs from the running gateway."""

    async def retry_inbox(self, ids: Sequence[int] | None = None, *, all_dead: bool = False) -> int:
        """Requeue dead/failed inbox entries; return how many."""
        ...


class MessageControl(Protocol):
    """What the message route asks of the gateway (:class:`~zalogate.runtime.Gateway`)."""

    async def send_message(
        self, channel: str, account_id: str, request: MessageRequest
    ) -> tuple[str, DeliveryReceipt]:
        """Send through the running account; return its account id and the receipt.

        Raises:
            UnknownAccountError: No such channel or enabled account.
            ControlUnavailableError: The account is not running (or the gateway stops).
            SendRefusedError: Nothing, or not everything, went out.
        """
        ...


async def deliver(
    channel: Channel, account: ChannelAccount, request: MessageRequest
) -> DeliveryReceipt:
    """Send ``request`` through ``channel`` (what ``message send`` does, in either process).

    A link goes through the channel's ``links`` capability when it has one and there is no
    media, else it is appended to the text (Zalo shows a preview for a URL in a text
    message). Exceptions of the channel propagate.
    """
    link, text = request.link, request.text
    links = channel.links
    if link is not None and links is not None and not request.media:
        return await links.send_link(account, request.target, link, text)
    body = text if link is None else (f"{text}\n{link}" if text.strip() else link)
    payload = ReplyPayload(
        text=body, media_urls=request.media, reply_to_id=request.reply_to or None
    )
    return await channel.send(account, request.target, payload)


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

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
        message_ids: tuple[str, ...] = (),
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail if detail is not None else message
        """The gateway's own error text (without the "refused to ..." frame)."""
        self.message_ids = message_ids
        """Message ids that went out before a failed send (502)."""
        self.maybe_sent = maybe_sent
        """The request reached the gateway but no answer came back (a timeout)."""

    @property
    def unreachable(self) -> bool:
        """True when no gateway answered at all."""
        return self.status_code is None and not self.maybe_sent


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
    path = account_path(channel, account_id, action)
    status, answer = await _post(base_url, path, token, body, timeout_s, may_have_acted=False)
    if status != 200 or answer is None:
        raise ControlError(
            f"the gateway at {base_url} refused to {action} {channel}/{account_id}:"
            f" {_refusal(status, answer)}",
            status_code=status,
        )
    record = answer.get("account")
    return ControlResult(action, record if isinstance(record, Mapping) else {})


def message_path(channel: str, account_id: str) -> str:
    """``/control/messages/<channel>/<account>`` (the ids percent-encoded)."""
    return f"{CONTROL_PREFIX}/messages/{quote(channel, safe='')}/{quote(account_id, safe='')}"


async def send_message(
    base_url: str,
    token: str,
    channel: str,
    account_id: str,
    request: MessageRequest,
    *,
    timeout_s: float = MESSAGE_TIMEOUT,
) -> dict[str, Any]:
    """Ask the gateway at ``base_url`` to send ``request`` through one running account.

    Returns:
        The delivery receipt: ``{ok, channel, accountId, target, messageIds}``.

    Raises:
        ControlError: No gateway could be connected to (``unreachable``: nothing was sent), it
            did not answer in time (``maybe_sent``), or it answered with an error
            (``status_code``, ``detail``: its message, ``message_ids``: what went out).
    """
    path = message_path(channel, account_id)
    status, answer = await _post(
        base_url, path, token, request.to_json(), timeout_s, may_have_acted=True
    )
    if status == 200 and answer is not None and answer.get("ok") is True:
        ids = answer.get("messageIds")
        return {
            "ok": True,
            "channel": str(answer.get("channel") or channel),
            "accountId": str(answer.get("accountId") or account_id),
            "target": str(answer.get("target") or request.target),
            "messageIds": [str(i) for i in ids] if isinstance(ids, list) else [],
        }
    raw_ids = answer.get("messageIds") if answer is not None else None
    sent = tuple(str(i) for i in raw_ids) if isinstance(raw_ids, list) else ()
    detail = _refusal(status, answer)
    raise ControlError(
        f"the gateway at {base_url} refused to send through {channel}/{account_id}: {detail}",
        status_code=status,
        detail=detail,
        message_ids=sent,
    )


async def inbox_retry(
    base_url: str,
    token: str,
    ids: Sequence[int] = (),
    *,
    all_dead: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT,
) -> int:
    """Ask the gateway at ``base_url`` to requeue inbox entries; return how many it did.

    Raises:
        ControlError: No gateway answered (``unreachable``) or it refused the request.
    """
    body = {"ids": [int(i) for i in ids], "allDead": all_dead}
    status, answer = await _post(
        base_url, INBOX_RETRY_PATH, token, body, timeout_s, may_have_acted=False
    )
    requeued = answer.get("requeued") if answer is not None else None
    if status != 200 or not isinstance(requeued, int):
        raise ControlError(
            f"the gateway at {base_url} refused to retry inbox entries: {_refusal(status, answer)}",
            status_code=status,
        )
    return requeued


async def _post(
    base_url: str,
    path: str,
    token: str,
    body: Mapping[str, Any] | None,
    timeout_s: float,
    *,
    may_have_acted: bool,
) -> tuple[int, Mapping[str, Any] | None]:
    """POST ``body`` to the control endpoint: (status, the JSON object answered or None).

    Raises:
        ControlError: Nothing could be connected to (``unreachable``), or, when the request
            may have taken effect before the answer was lost (``may_have_acted``), no answer
            came in time (``maybe_sent``).
    """
    url = base_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx2.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            response = await client.post(url, json=body, headers=headers)
    except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
        raise ControlError(f"no gateway answered at {base_url} ({type(exc).__name__})") from None
    except httpx2.HTTPError as exc:
        if not may_have_acted:
            raise ControlError(
                f"no gateway answered at {base_url} ({type(exc).__name__})"
            ) from None
        raise ControlError(
            f"the gateway at {base_url} did not answer in time ({type(exc).__name__});"
            " the message may have been sent",
            maybe_sent=True,
        ) from None
    except OSError as exc:
        raise ControlError(f"no gateway answered at {base_url} ({exc.strerror or exc})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer if isinstance(answer, Mapping) else None


def _refusal(status: int, answer: Mapping[str, Any] | None) -> str:
    """What to say about a control request the gateway did not carry out."""
    if status == 401:
        return "the gateway refused the control token (is it another gateway's?)"
    message = answer.get("error") if answer is not None else None
    return str(message) if message else f"HTTP {status}"
