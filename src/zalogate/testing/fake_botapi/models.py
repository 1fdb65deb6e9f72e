"""Records, ids, the PNG maker and the small plumbing types of the fake Bot API."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from zalogate.testing.http_server import HttpRequest

# One logger for the whole fake (its name from before the fake was split into modules).
log = logging.getLogger("zalogate.testing.fake_botapi")

EmptyPoll = Literal["http408", "body408", "empty-result"]
PollWhileWebhook = Literal["empty", "conflict"]

T = TypeVar("T")
TEXT_LIMIT = 2000
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
_ids = itertools.count(1)


def new_id() -> str:
    """A 20-hex-digit id shaped like Zalo's, unique within the process."""
    return f"{secrets.token_hex(6)}{next(_ids) & 0xFFFFFFFF:08x}"


def now_ms() -> int:
    return int(time.time() * 1000)


encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def make_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (0, 104, 255)) -> bytes:
    """A valid, solid-colour RGB PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One message the bot sent (``sendMessage`` / ``sendPhoto`` / ``sendSticker``)."""

    method: str
    bot_id: str
    chat_id: str
    message_id: str
    time: float
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the fake received (any method, also failed ones)."""

    method: str
    bot_id: str | None
    payload: dict[str, Any]
    time: float


@dataclass(frozen=True, slots=True)
class WebhookFailure:
    """An update the fake gave up delivering to the webhook."""

    bot_id: str
    url: str
    update: dict[str, Any]
    last_status: int | None
    last_error: str | None


@dataclass(slots=True)
class Fault:
    kind: Literal["pass", "fail", "error", "timeout", "drop", "drop_after", "hold_after"]
    remaining: int
    status: int = 500
    error_code: int | str | None = None
    description: str | None = None
    html: bool = False


class Signal:
    """Wakes every waiter on ``notify()``; callers re-check their condition after waking."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def wait(self, limit: float | None = None) -> Awaitable[None]:
        """Wait for the next ``notify()`` (at most ``limit`` seconds).

        The waiter is registered when ``wait`` is called, not when the awaitable first runs:
        a caller wrapping it in a task (``ensure_future``) must not miss a ``notify()`` that
        comes before the task starts (that lost wake-up held a long-poll for its full timeout
        with an update pending).
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return self._wait(waiter, limit)

    async def _wait(self, waiter: asyncio.Future[None], limit: float | None) -> None:
        try:
            await asyncio.wait_for(waiter, limit)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


# ----------------------------------------------------------------- the HTTP server
#
# The fake answers on the small HTTP/1.1 server of :mod:`zalogate.testing.http_server`
# instead of uvicorn + Starlette: a benchmark gateway sends it two calls per message, and the
# simulator must cost far less than the gateway it measures. The hot routes
# (``/bot<TOKEN>/<method>`` with POST or GET, ``/media/<name>`` with GET or HEAD) are answered
# directly; every other request goes to a Starlette app through the server's ASGI bridge
# (``FakeZaloBotApi._app``: the same routes, so 404/405 answer as Starlette does, and tests may
# add routes of their own there).


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer of the fake: status, body and content type (plus any extra headers)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


if TYPE_CHECKING:
    from zalogate.testing.fake_botapi.actors import FakeBot

MethodHandler = Callable[["FakeBot", dict[str, Any], HttpRequest], Awaitable[Reply]]
"""One Bot API method of the fake: ``(bot, payload, request) -> reply``."""


def respond(request: HttpRequest, reply: Reply) -> None:
    """Write ``reply`` as the answer to ``request`` (its headers only for HEAD)."""
    request.respond(
        reply.status,
        reply.body,
        reply.content_type.encode("latin-1"),
        [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
        if reply.headers
        else (),
    )
