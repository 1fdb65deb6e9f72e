"""Exceptions raised by the personal-account client.

The tree, at a glance::

    ZaloPersonalError                     every error of this package
    ├── ConfigurationError (ValueError)   bad credentials / endpoints / arguments; nothing sent
    ├── TransportError                    no usable HTTP answer arrived (retryable)
    │   ├── RequestTimeoutError               the client deadline passed
    │   ├── NetworkError                      connect / read / write failed
    │   └── HttpStatusError                   a non-2xx status (``status``)
    ├── ProtocolError                     an answer that is not the expected envelope
    │   └── CryptoError                       decryption failed, bad key, tampered data
    ├── ApiError                          ``error_code != 0`` (``code``, ``outer``)
    │   ├── SessionExpiredError               600: zpw_sek missing or invalid; log in again
    │   ├── NotFoundError                     216: user / group / message not found
    │   └── RateLimitedError                  221: too many requests; back off, never retry now
    ├── LoginError                        a login step failed (e.g. "Can't login")
    │   ├── QrExpiredError                    every QR code expired (renewals exhausted)
    │   └── QrDeclinedError                   the phone declined the login
    ├── FileDoneTimeoutError (TimeoutError)  the websocket ``file_done`` never came
    └── ListenerError                     base for websocket listener failures

``retryable`` says whether the same call may succeed later. No message or ``repr`` contains
cookies, the session key or encrypted parameters: messages name the endpoint path only.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ConfigurationError",
    "CryptoError",
    "FileDoneTimeoutError",
    "HttpStatusError",
    "ListenerError",
    "LoginError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "QrDeclinedError",
    "QrExpiredError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SessionExpiredError",
    "TransportError",
    "ZaloPersonalError",
    "api_error",
    "is_rate_limited",
]

#: ``zpw_sek`` missing or invalid (seen in the wild: another Zalo Web login, expired cookies).
CODE_SESSION_INVALID = 600
#: "not found" (findUser and friends).
CODE_NOT_FOUND = 216
#: "too many requests": the account sends too fast (zca-js issues 336, 146, 114).
CODE_RATE_LIMITED = 221


class ZaloPersonalError(Exception):
    """Base class of every error raised by ``zalogate.personal``."""

    @property
    def retryable(self) -> bool:
        """Whether trying the same call again later may succeed."""
        return False


class ConfigurationError(ZaloPersonalError, ValueError):
    """Unusable credentials, endpoints or arguments were given; nothing was sent."""


class TransportError(ZaloPersonalError):
    """No usable HTTP answer arrived.

    ``maybe_sent``: the request may have reached Zalo (a reset or a read timeout after it was
    written, ``net.transport.maybe_sent``); a send that failed so may have gone out.
    """

    def __init__(self, message: str = "", *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent

    @property
    def retryable(self) -> bool:
        """Transport failures are worth retrying."""
        return True


class RequestTimeoutError(TransportError):
    """The request did not complete before the client deadline."""


class NetworkError(TransportError):
    """Connecting, reading or writing failed."""


class HttpStatusError(TransportError):
    """The server answered with a non-2xx HTTP status."""

    def __init__(self, status: int, path: str) -> None:
        super().__init__(f"Request failed with status code {status} ({path})")
        self.status = status
        self.path = path

    @property
    def retryable(self) -> bool:
        """Only 429 and 5xx are worth retrying."""
        return self.status == 429 or self.status >= 500


class ProtocolError(ZaloPersonalError):
    """The answer is not in the shape the protocol prescribes."""


class CryptoError(ProtocolError):
    """Encrypted data could not be decrypted or verified (wrong key, tampered, truncated)."""


class ApiError(ZaloPersonalError):
    """Zalo answered with ``error_code != 0``.

    Attributes:
        code: the ``error_code``.
        message: the server's ``error_message`` (may be Vietnamese).
        outer: true if the code was in the plain outer envelope, false if in the encrypted one.
        path: the endpoint path.
    """

    def __init__(self, code: int, message: str, *, path: str = "", outer: bool = False) -> None:
        where = f" ({path})" if path else ""
        super().__init__(f"Zalo error {code}: {message}{where}")
        self.code = code
        self.message = message
        self.outer = outer
        self.path = path


class SessionExpiredError(ApiError):
    """Code 600: the session cookie is missing or invalid; a new login is needed."""


class NotFoundError(ApiError):
    """Code 216: the user, group or message does not exist."""


class RateLimitedError(ApiError):
    """Code 221: the account sent too much too fast; pause its sends (not retryable now)."""


class LoginError(ZaloPersonalError):
    """A login step failed."""


class QrExpiredError(LoginError):
    """Every QR code expired before it was confirmed (renewal limit reached)."""


class QrDeclinedError(LoginError):
    """The phone declined the QR login."""


class FileDoneTimeoutError(ZaloPersonalError, TimeoutError):
    """The websocket ``file_done`` control for an uploaded file did not arrive in time."""

    def __init__(self, file_id: str, timeout_s: float) -> None:
        super().__init__(
            f"no file_done for file {file_id} within {timeout_s:g} s "
            "(is the websocket listener running?)"
        )
        self.file_id = file_id
        self.timeout_s = timeout_s

    @property
    def retryable(self) -> bool:
        """The upload may succeed when retried with a running listener."""
        return True


class ListenerError(ZaloPersonalError):
    """Base for websocket listener failures."""


def api_error(code: int, message: str, *, path: str = "", outer: bool = False) -> ApiError:
    """Return the most specific `ApiError` for ``code``."""
    cls: type[ApiError] = ApiError
    if code == CODE_SESSION_INVALID:
        cls = SessionExpiredError
    elif code == CODE_NOT_FOUND:
        cls = NotFoundError
    elif code == CODE_RATE_LIMITED:
        cls = RateLimitedError
    return cls(code, message, path=path, outer=outer)


def is_rate_limited(exc: BaseException) -> bool:
    """Zalo's "slow down" answers: error 221, or HTTP 429."""
    return isinstance(exc, RateLimitedError) or (
        isinstance(exc, HttpStatusError) and exc.status == 429
    )
