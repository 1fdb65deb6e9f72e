"""Exceptions raised by the Zalo Bot API client.

The tree, at a glance::

    ZaloBotError                      every error of this package
    ├── ConfigurationError (ValueError)   bad token / base URL / proxy given to ZaloBot()
    ├── InvalidRequestError (ValueError)  an argument refused locally; nothing was sent
    │   └── UnsafeUrlError                    a photo URL refused by the SSRF guard
    ├── TransportError                    no usable answer arrived (retryable)
    │   ├── RequestTimeoutError               the client deadline passed
    │   └── NetworkError                      connect / read / write failed, connection dropped
    ├── MalformedResponseError            an answer that is not the Bot API envelope
    └── ApiError                          the API answered {"ok": false, ...} or an HTTP error
        ├── BadRequestError                   400 and other 4xx not listed below
        ├── UnauthorizedError                 401, 403 (bad or revoked token)
        ├── NotFoundError                     404 (unknown method; getWebhookInfo without webhook)
        ├── ApiTimeoutError                   408 (getUpdates: nobody wrote during the poll)
        ├── ConflictError                     409
        ├── RateLimitedError                  429 (also nginx HTML 429 pages)
        └── ServerError                       5xx (also HTML 502/503 pages)

Every error has ``retryable``: true when the same call may succeed if tried again later
(transport failures, 408, 429, 5xx). No message, ``repr`` or ``__cause__`` of these errors
contains the bot token: the client builds them from redacted text only.
"""

from __future__ import annotations

from zalogate.net import urlguard

__all__ = [
    "ApiError",
    "ApiTimeoutError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InvalidRequestError",
    "MalformedResponseError",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UnsafeUrlError",
    "ZaloBotError",
    "api_error_class",
]


class ZaloBotError(Exception):
    """Base class of every error raised by ``zalogate.botapi``."""

    @property
    def retryable(self) -> bool:
        """Whether trying the same call again later may succeed."""
        return False


class ConfigurationError(ZaloBotError, ValueError):
    """The client was configured with an unusable token, base URL or proxy."""


class InvalidRequestError(ZaloBotError, ValueError):
    """An argument was refused before any request was sent (e.g. a non-HTTP photo URL)."""


class UnsafeUrlError(InvalidRequestError, urlguard.UnsafeUrlError):
    """The ``UrlGuard`` refused a URL (the message never quotes the URL's query).

    Also a ``zalogate.net.urlguard.UnsafeUrlError``: the guard's refusal as this package's error.
    """


class TransportError(ZaloBotError):
    """No usable HTTP answer arrived.

    ``maybe_sent`` is False only when the request cannot have reached Zalo (no connection
    could be made or taken from the pool); otherwise (a reset after the request was
    written, a read timeout) the call may have taken effect.
    """

    def __init__(self, method: str, message: str, *, maybe_sent: bool = True) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.maybe_sent = maybe_sent

    @property
    def retryable(self) -> bool:
        """Transport failures are transient."""
        return True


class RequestTimeoutError(TransportError):
    """The client-side deadline passed before the answer was complete."""


class NetworkError(TransportError):
    """Connecting, writing or reading failed, or the server closed the connection."""


class MalformedResponseError(ZaloBotError):
    """The server answered, but not with a Bot API envelope of the expected shape."""

    def __init__(self, method: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.status_code = status_code


class ApiError(ZaloBotError):
    """The Bot API reported an error (``ok: false``) or answered with an HTTP error status.

    Attributes:
        method: the Bot API method called, e.g. ``"sendMessage"``.
        error_code: ``error_code`` from the body, else the HTTP status.
        description: ``description`` from the body, else the HTTP reason phrase.
        status_code: the HTTP status of the answer (Zalo often says 200 for errors).
    """

    def __init__(
        self, method: str, error_code: int | None, description: str, *, status_code: int
    ) -> None:
        code = "?" if error_code is None else str(error_code)
        super().__init__(f"{method} failed: {description} (error_code={code}, HTTP {status_code})")
        self.method = method
        self.error_code = error_code
        self.description = description
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        """408, 429 and 5xx are transient; other API errors are not."""
        code = self.error_code if self.error_code is not None else self.status_code
        return code in (408, 429) or 500 <= code <= 599


class BadRequestError(ApiError):
    """The request was refused as invalid (400, or another 4xx without its own class)."""


class UnauthorizedError(ApiError):
    """The token is invalid or revoked (401 / 403)."""


class NotFoundError(ApiError):
    """Unknown method, or a resource that does not exist (404)."""


class ApiTimeoutError(ApiError):
    """Zalo's own request timeout (408); for ``getUpdates`` it means "no update"."""


class ConflictError(ApiError):
    """The request conflicts with the bot's state (409)."""


class RateLimitedError(ApiError):
    """Too many requests (429). ``retry_after`` holds a ``Retry-After`` header if present."""

    def __init__(
        self,
        method: str,
        error_code: int | None,
        description: str,
        *,
        status_code: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(method, error_code, description, status_code=status_code)
        self.retry_after = retry_after


class ServerError(ApiError):
    """Zalo failed on its side (5xx)."""


def api_error_class(code: int) -> type[ApiError]:
    """The ``ApiError`` subclass for an error code or HTTP status."""
    if code in (401, 403):
        return UnauthorizedError
    special: dict[int, type[ApiError]] = {
        404: NotFoundError,
        408: ApiTimeoutError,
        409: ConflictError,
        429: RateLimitedError,
    }
    if code in special:
        return special[code]
    if 500 <= code <= 599:
        return ServerError
    if 400 <= code <= 499:
        return BadRequestError
    return ApiError
