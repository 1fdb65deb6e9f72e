"""Webhook mode: the ASGI endpoint Zalo POSTs updates to, mounted on the gateway's server.

Checks and answers, in this order (``zalo-bot-api.md`` §2.2; plain-text bodies):

1. a path below the webhook path that nothing else serves -> 404 ``Not Found``;
2. a method other than POST -> 405 ``Method Not Allowed`` with ``Allow: POST``;
3. more than ``rate_limit`` requests (120) per ``rate_window`` (60 s) for one path and client
   IP -> 429 ``Too Many Requests``, before authentication (the key ignores the query string;
   ``X-Forwarded-For``/``X-Real-IP`` count only when the socket peer is a trusted proxy);
4. ``X-Bot-Api-Secret-Token`` compared in constant time with every account's secret on this
   path: no match -> 401 ``unauthorized``; more than one (two accounts, same secret) -> 401
   ``ambiguous webhook target`` and no account sees the event;
5. a content type other than ``application/json`` or ``*/*+json`` -> 415;
6. a body over 1 MiB -> 413; a body that does not arrive within ``body_timeout`` (10 s) -> 408;
7. an empty body, invalid JSON, a non-object, or no ``message.message_id`` /
   ``message.chat.id`` -> 400 ``Bad Request``;
8. the update is admitted to the durable inbox (3 attempts, 0/100/300 ms apart); if the
   journal write fails -> 500 ``Internal Server Error`` so that Zalo delivers it again; an
   update the channel cannot turn into a message -> 400 (a redelivery would fail alike).
   Lone UTF-16 surrogates in strings (valid JSON, not storable) become U+FFFD first;
9. 200 ``ok`` — only after the admission is durable (duplicates too).

Every 1st and 25th answer per path and status among 400/401/408/413/415/429 is logged as an
anomaly. Nothing logged here contains the secret or the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zalogate.channels.zalo.inbound import InvalidUpdateError, unwrap_update
from zalogate.core.channel import Receive, RouteRegistrar, Scope, Send
from zalogate.core.errors import describe_error
from zalogate.store import StoreError

__all__ = [
    "ANOMALY_STATUSES",
    "MAX_BODY_BYTES",
    "FixedWindowLimiter",
    "WebhookEndpoint",
    "WebhookOptions",
    "WebhookRegistry",
    "WebhookTarget",
    "client_ip",
]

log = logging.getLogger("zalogate.channels.zalo")

MAX_BODY_BYTES = 1024 * 1024
ANOMALY_STATUSES = frozenset({400, 401, 408, 413, 415, 429})
_ADMIT_DELAYS = (0.0, 0.1, 0.3)
_SECRET_HEADER = b"x-bot-api-secret-token"

UpdateHandler = Callable[[dict[str, Any]], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Tuning of the webhook endpoint (defaults follow the reference)."""

    rate_limit: int = 120
    rate_window: float = 60.0
    rate_max_keys: int = 4096
    body_limit: int = MAX_BODY_BYTES
    body_timeout: float = 10.0
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``10.0.0.0/8``) whose forwarded-for headers are believed."""
    admit_delays: tuple[float, ...] = _ADMIT_DELAYS


@dataclass(slots=True)
class WebhookTarget:
    """One account listening on a webhook path."""

    account_id: str
    secret: str = field(repr=False)
    handle: UpdateHandler
    digest: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Comparing digests keeps the comparison constant-time whatever the lengths.
        self.digest = hashlib.sha256(self.secret.encode("utf-8")).digest()


class FixedWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key; ``max_keys`` keys tracked (LRU)."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, key: str) -> bool:
        """Count one request for ``key``; False when it is over the limit."""
        now = self._clock()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        return count <= self.limit


def _networks(entries: Iterable[str]) -> tuple[Network, ...]:
    found: list[Network] = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.warning("ignoring invalid trusted proxy %r", entry)
    return tuple(found)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def _raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    raw = _raw_header(scope, name)
    return None if raw is None else raw.decode("latin-1")


def client_ip(scope: Scope, trusted: Sequence[Network] = ()) -> str:
    """The client address of a request: the socket peer, or (behind a trusted proxy) the
    right-most untrusted ``X-Forwarded-For`` hop, else ``X-Real-IP``."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    if forwarded:
        for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
            if not _trusted(hop, trusted):
                return hop
    real = _header(scope, b"x-real-ip")
    return real.strip() if real and real.strip() else peer


def _json_content_type(value: str | None) -> bool:
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.count("/") == 1 and media.endswith("+json"))


def _answer_messages(
    status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = text.encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": (
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ),
    }
    return start, {"type": "http.response.body", "body": body}


# The answers are constant: built once, not per request (servers only read the messages;
# the header pairs are a tuple, so nothing can change them in place).
_ANSWERS = {
    (status, text): _answer_messages(status, text)
    for status, text in (
        (200, "ok"),
        (404, "Not Found"),
        (429, "Too Many Requests"),
        (401, "unauthorized"),
        (401, "ambiguous webhook target"),
        (415, "Unsupported Media Type"),
        (413, "Payload Too Large"),
        (408, "Request Timeout"),
        (400, "Bad Request"),
        (500, "Internal Server Error"),
    )
}


async def _answer(
    send: Send, status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    messages = None if headers else _ANSWERS.get((status, text))
    start, body = messages or _answer_messages(status, text, headers)
    await send(start)
    await send(body)


class _BodyTooLargeError(Exception):
    pass


class _DisconnectedError(Exception):
    pass


class WebhookEndpoint:
    """The ASGI app serving one webhook path for one or more accounts."""

    def __init__(self, path: str, options: WebhookOptions | None = None) -> None:
        self.path = path
        self.options = options or WebhookOptions()
        self.limiter = FixedWindowLimiter(
            self.options.rate_limit, self.options.rate_window, max_keys=self.options.rate_max_keys
        )
        self._trusted = _networks(self.options.trusted_proxies)
        self._targets: dict[str, WebhookTarget] = {}
        self._anomalies: OrderedDict[str, int] = OrderedDict()

    @property
    def targets(self) -> list[WebhookTarget]:
        """The accounts on this path."""
        return list(self._targets.values())

    def add(self, target: WebhookTarget) -> None:
        """Add an account to this path (replacing an earlier registration of it)."""
        self._targets[target.account_id] = target

    def remove(self, account_id: str) -> None:
        """Remove an account from this path."""
        self._targets.pop(account_id, None)

    def _anomaly(self, status: int) -> None:
        if status not in ANOMALY_STATUSES:
            return
        key = f"{self.path}:{status}"
        count = self._anomalies.get(key, 0) + 1
        self._anomalies[key] = count
        self._anomalies.move_to_end(key)
        while len(self._anomalies) > 4096:
            self._anomalies.popitem(last=False)
        if count == 1 or count % 25 == 0:
            log.warning(
                "[zalo] webhook anomaly path=%s status=%d count=%d", self.path, status, count
            )

    async def _fail(
        self, send: Send, status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        self._anomaly(status)
        await _answer(send, status, text, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request (see the module docstring for the order of checks)."""
        if scope["type"] != "http":
            return
        path = str(scope.get("path", "/"))
        if (path.rstrip("/") or "/") != self.path:
            await _answer(send, 404, "Not Found")
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
            return
        if not self.limiter.hit(f"{self.path}:{client_ip(scope, self._trusted)}"):
            await self._fail(send, 429, "Too Many Requests")
            return
        # One pass over the headers for the three this endpoint reads (first occurrence
        # wins, as a lookup by name would give).
        secret: bytes | None = None
        content_type: str | None = None
        declared: str | None = None
        for key, value in scope.get("headers", ()):
            if key == _SECRET_HEADER:
                if secret is None:
                    secret = bytes(value)
            elif key == b"content-type":
                if content_type is None:
                    content_type = bytes(value).decode("latin-1")
            elif key == b"content-length" and declared is None:
                declared = bytes(value).decode("latin-1")
        given = hashlib.sha256(secret or b"").digest()
        matches = [t for t in self._targets.values() if secrets.compare_digest(t.digest, given)]
        if not matches:
            await self._fail(send, 401, "unauthorized")
            return
        if len(matches) > 1:
            await self._fail(send, 401, "ambiguous webhook target")
            return
        target = matches[0]
        if not _json_content_type(content_type):
            await self._fail(send, 415, "Unsupported Media Type")
            return
        if declared and declared.strip().isdigit() and int(declared) > self.options.body_limit:
            await self._fail(send, 413, "Payload Too Large")
            return
        try:
            body = await self._read_body_within(receive, self.options.body_timeout)
        except TimeoutError:
            await self._fail(send, 408, "Request Timeout")
            return
        except _BodyTooLargeError:
            await self._fail(send, 413, "Payload Too Large")
            return
        except _DisconnectedError:
            return
        try:
            update = unwrap_update(_parse_body(body)) if body.strip() else None
        except (ValueError, RecursionError, InvalidUpdateError):
            update = None
        if update is None:
            await self._fail(send, 400, "Bad Request")
            return
        admitted = await self._admit(target, update)
        if admitted is None:  # the update itself cannot be taken in: a redelivery won't help
            await self._fail(send, 400, "Bad Request")
            return
        if not admitted:
            await _answer(send, 500, "Internal Server Error")
            return
        await _answer(send, 200, "ok")

    async def _read_body_within(self, receive: Receive, timeout: float) -> bytes:  # noqa: ASYNC109
        """``_read_body`` cut off after ``timeout`` seconds (``TimeoutError``).

        What ``asyncio.timeout`` does, with one plain timer: the context manager cost about
        11 µs per request on uvloop (its rescheduling, the state checks), a timer 3 µs.
        """
        task = asyncio.current_task()
        if task is None:  # not in a task (cannot be cancelled): no deadline to enforce
            return await self._read_body(receive)
        cancelling = task.cancelling()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await self._read_body(receive)
        except asyncio.CancelledError:
            # Ours only if nobody else cancelled the request meanwhile (shutdown wins).
            if expired and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _DisconnectedError
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.options.body_limit:
                raise _BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _admit(self, target: WebhookTarget, update: dict[str, Any]) -> bool | None:
        """True once admitted; False when the journal write kept failing (500: Zalo
        redelivers); None when the update itself is refused (400)."""
        error: BaseException | None = None
        for delay in self.options.admit_delays:
            if delay:
                await asyncio.sleep(delay)
            try:
                await target.handle(update)
                return True
            except asyncio.CancelledError:
                raise
            except _STORE_ERRORS as exc:
                error = exc
            except Exception as exc:
                log.warning(
                    "[%s] Zalo webhook update refused: %s", target.account_id, describe_error(exc)
                )
                return None
        log.error(
            "[%s] Zalo webhook admission failed: %s",
            target.account_id,
            describe_error(error) if error else "unknown error",
        )
        return False


_STORE_ERRORS = (sqlite3.Error, StoreError, OSError)
"""Failures of the journal write: the only ones answered 500 (Zalo delivers again)."""


def _parse_body(body: bytes) -> Any:
    """``json.loads``, with lone UTF-16 surrogates (valid JSON: ``"\\ud800"``) replaced by
    U+FFFD: they cannot be stored or sent, and refusing them would lose the message."""
    data = json.loads(body)
    if b"\\u" in body:
        return _without_surrogates(data)
    return data


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


class WebhookRegistry:
    """Webhook endpoints by path on the gateway's HTTP server, shared by accounts.

    The first account on a path mounts its endpoint; the last one leaving unmounts it.
    """

    def __init__(self, routes: RouteRegistrar, options: WebhookOptions | None = None) -> None:
        self.routes = routes
        self.options = options or WebhookOptions()
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._holds: dict[tuple[str, str], int] = {}
        """Registrations per (path, account): a cluster node registers an account it serves
        and also runs; the target stays until the last one leaves."""

    def endpoint(self, path: str) -> WebhookEndpoint | None:
        """The endpoint serving ``path``, if any."""
        return self._endpoints.get(path)

    def register(self, path: str, target: WebhookTarget) -> None:
        """Serve ``target`` at ``path`` (mounting the path if it is new).

        Raises:
            Exception: Whatever the route registrar raises when the path is taken.
        """
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            endpoint = WebhookEndpoint(path, self.options)
            self.routes.mount(path, endpoint, name="zalo-webhook")
            self._endpoints[path] = endpoint
        endpoint.add(target)
        key = (path, target.account_id)
        self._holds[key] = self._holds.get(key, 0) + 1

    def unregister(self, path: str, account_id: str) -> None:
        """Stop serving ``account_id`` at ``path`` (unmounting the path when it is empty)."""
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            return
        left = self._holds.pop((path, account_id), 1) - 1
        if left > 0:
            self._holds[(path, account_id)] = left
            return
        endpoint.remove(account_id)
        if not endpoint.targets:
            del self._endpoints[path]
            self.routes.unmount(path)
