"""What the protocol clients read of an HTTP answer, whichever transport brought it.

``Answer`` is the part of ``httpx2.Response`` that ``botapi`` and ``personal`` use;
``RawResponse`` is the cheaper object :meth:`~zalogate.net.transport.LeanTransport.request`
returns with the same surface, so a client reads both alike.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Protocol

import httpx2

__all__ = ["Answer", "RawHeaders", "RawResponse", "decoded_body", "error_code_of"]


class _AnswerHeaders(Protocol):
    def get(self, key: str, /) -> str | None: ...
    def get_list(self, key: str, /) -> list[str]: ...


class Answer(Protocol):
    """What the protocol clients read of an answer: ``httpx2.Response`` and `RawResponse`."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    @property
    def headers(self) -> _AnswerHeaders: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def is_redirect(self) -> bool: ...
    def json(self) -> Any: ...


class RawHeaders:
    """Response headers as received, looked up without regard to case."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``, or ``default``."""
        wanted = name.lower().encode("latin-1")
        for key, value in self.raw:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return default

    def get_list(self, name: str) -> list[str]:
        """Every value of header ``name``, in order (e.g. ``Set-Cookie``)."""
        wanted = name.lower().encode("latin-1")
        return [value.decode("latin-1") for key, value in self.raw if key.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class RawResponse:
    """An answer from `LeanTransport.request`: the parts of ``httpx2.Response`` we use."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code", "url")

    def __init__(
        self, status_code: int, reason_phrase: str, headers: RawHeaders, content: bytes, url: str
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content
        self.url = url

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}]>"

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code <= 299

    @property
    def is_redirect(self) -> bool:
        """A redirect status with a ``Location`` header."""
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(self.content)


def decoded_body(body: bytes, encoding: str | None) -> bytes:
    """``body`` undone of its ``Content-Encoding`` (gzip, deflate; ``RemoteProtocolError``)."""
    if not encoding or not body:
        return body
    try:
        for step in reversed([part.strip().lower() for part in encoding.split(",")]):
            if step in ("gzip", "x-gzip"):
                body = zlib.decompress(body, zlib.MAX_WBITS | 16)
            elif step == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some send
            elif step not in ("identity", ""):
                raise httpx2.RemoteProtocolError(f"unsupported content encoding {step!r}")
    except zlib.error:
        raise httpx2.RemoteProtocolError("the response body does not decompress") from None
    return body


def error_code_of(value: object) -> int | None:
    """An error code read from a JSON body: an int, or an int written as a string (Zalo does
    both); None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
