"""Hosting local reply images so that Zalo can fetch them (``sendPhoto`` takes a URL only).

With a webhook URL, a local image in a reply is kept in memory and offered at
``<webhook origin><webhookPath>/media/<24 hex id>?token=<48 hex token>`` (root path:
``/media/...``) for ``ttl`` seconds (default 120). The route answers ``GET``/``HEAD``:

* an id that is not 24 hex digits, or unknown -> 404 ``Not Found``;
* expired -> 410 ``Expired`` (and the entry is dropped);
* a wrong token (constant-time compare) -> 401 ``Unauthorized``;
* else 200 with the bytes, ``Content-Type``, ``Cache-Control: no-store``,
  ``X-Content-Type-Options: nosniff`` and ``Content-Length``.

Unlike OpenClaw, an entry is served again on repeated GETs until it expires: Zalo clients fetch
a photo more than once (``zalo-bot-api.md`` §9.1 #10; product-decisions "Delivery"). At most
``max_entries`` (64) are kept; the oldest go first. Only real images (PNG, JPEG, GIF, WebP,
BMP, by their first bytes) are hosted, so a reply cannot publish an arbitrary local file.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zalogate.core.channel import Receive, Scope, Send

__all__ = ["HostedMedia", "MediaHostError", "media_prefix", "sniff_image_type"]

_ID = re.compile(r"^[a-f0-9]{24}$")
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_BMP_HEADERS = frozenset({12, 40, 52, 56, 64, 108, 124})
"""Sizes of the BMP info headers (``BITMAPCOREHEADER`` ... ``BITMAPV5HEADER``)."""


class MediaHostError(ValueError):
    """A local file cannot be hosted (missing, too large, not an image)."""


def sniff_image_type(content: bytes) -> str | None:
    """The image MIME type of ``content`` from its first bytes, or None if not an image."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _SIGNATURES:
        if content.startswith(signature):
            return mime
    if _is_bmp(content):
        return "image/bmp"
    return None


def _is_bmp(content: bytes) -> bool:
    """``BM``, then a file size, reserved zeros, a pixel offset inside the file and a known
    info header size: a text file that starts with "BM" is not an image."""
    if len(content) < 26 or content[:2] != b"BM" or content[6:10] != b"\0\0\0\0":
        return False
    size = int.from_bytes(content[2:6], "little")
    offset = int.from_bytes(content[10:14], "little")
    header = int.from_bytes(content[14:18], "little")
    return header in _BMP_HEADERS and 14 + header <= offset < len(content) and size >= offset


def media_prefix(webhook_path: str) -> str:
    """``<webhookPath>/media`` (``/media`` for the root path)."""
    return "/media" if webhook_path in ("", "/") else f"{webhook_path.rstrip('/')}/media"


@dataclass(slots=True)
class _Entry:
    content: bytes
    content_type: str
    token: str
    expires_at: float


class HostedMedia:
    """The in-memory store behind one ``<path>/media`` route, and its ASGI app.

    Args:
        public_base: ``<webhook origin><media prefix>``, e.g. ``https://h.example/hook/media``.
        ttl: Seconds an entry stays fetchable.
        max_entries: Entries kept at most (the oldest are dropped first).
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        public_base: str,
        *,
        ttl: float = 120.0,
        max_entries: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.public_base = public_base.rstrip("/")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, content: bytes, content_type: str) -> str:
        """Host ``content``; return its public URL (with the access token)."""
        self._expire()
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        media_id = secrets.token_hex(12)
        token = secrets.token_hex(24)
        self._entries[media_id] = _Entry(content, content_type, token, self._clock() + self.ttl)
        return f"{self.public_base}/{media_id}?token={token}"

    def add_file(self, path: Path, *, max_bytes: int) -> str:
        """Host a local image file (at most ``max_bytes``); return its public URL.

        Raises:
            MediaHostError: The file is missing, too large or not an image.
        """
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise MediaHostError(f"media file cannot be read ({exc.strerror or exc})") from None
        if size > max_bytes:
            raise MediaHostError(f"media file is larger than {max_bytes} bytes")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise MediaHostError(f"media file cannot be read ({exc.strerror or exc})") from None
        if len(content) > max_bytes:
            raise MediaHostError(f"media file is larger than {max_bytes} bytes")
        content_type = sniff_image_type(content)
        if content_type is None:
            raise MediaHostError("media file is not an image (PNG, JPEG, GIF, WebP or BMP)")
        return self.add(content, content_type)

    def _expire(self) -> None:
        now = self._clock()
        for media_id in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[media_id]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``GET``/``HEAD <prefix>/<id>?token=...``."""
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method Not Allowed", extra=[(b"allow", b"GET, HEAD")])
            return
        path = str(scope.get("path", ""))
        media_id = path.rstrip("/").rsplit("/", 1)[-1]
        entry = self._entries.get(media_id) if _ID.match(media_id) else None
        if entry is None:
            await _respond(send, 404, b"Not Found")
            return
        if entry.expires_at <= self._clock():
            del self._entries[media_id]
            await _respond(send, 410, b"Expired")
            return
        query = urllib.parse.parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        given = (query.get("token") or [""])[0]
        if not secrets.compare_digest(given.encode(), entry.token.encode()):
            await _respond(send, 401, b"Unauthorized")
            return
        headers = [
            (b"content-type", entry.content_type.encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        body = b"" if method == "HEAD" else entry.content
        await _respond(send, 200, body, extra=headers, length=len(entry.content))


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
    length: int | None = None,
) -> None:
    headers = list(extra or [(b"content-type", b"text/plain; charset=utf-8")])
    headers.append((b"content-length", str(len(body) if length is None else length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
