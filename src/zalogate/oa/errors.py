"""Exceptions raised by the Zalo Official Account client.

The tree, at a glance (codes from the OA error appendix, reference §7)::

    ZaloOAError                           every error of this package
    ├── ConfigurationError (ValueError)       bad app id / secret / base URL given to a client
    ├── InvalidRequestError (ValueError)      refused locally; nothing was sent
    │   ├── StateMismatchError                    consent callback with an unknown/expired state
    │   └── FileTooLargeError                     an upload above the kind's size limit
    ├── TransportError                        no usable answer arrived (retryable)
    │   ├── RequestTimeoutError                   the client deadline passed
    │   └── NetworkError                          connect / read / write failed
    ├── MalformedResponseError                an answer that is not Zalo's envelope
    ├── ReauthorizationRequiredError               the refresh token was refused: consent again
    └── ApiError                              {"error": <non-zero>, ...} (usually HTTP 200)
        ├── OAuthError                            the OAuth host refused (-14xxx)
        │   └── InvalidRedirectUriError               -14003
        ├── AccessTokenError                      -216 -220 -124 216 401 -401: refresh, retry once
        ├── RateLimitedError                      -32, HTTP 429: back off (retryable)
        ├── SendFailedError                       -200 (retryable once)
        ├── ServerError                           HTTP 5xx without an envelope (retryable)
        ├── InvalidParameterError                 -201 -233 (-201 on a quote: resend without)
        ├── TooLargeError                         -210
        ├── AttachmentExpiredError                -100: upload again
        ├── OutsideWindowError                    -230 -232: no interaction in the window
        ├── NightTimeError                        -234: not between 22:00 and 06:00
        ├── RecipientRefusedError                 -213 -217 -218 -227 -244 -248
        ├── QuotaExceededError                    -211
        └── OAConfigError                         -204 -205 -209 -212 -219 -221 -223 -224
                                                  -240 -242: the operator must act

Every error has ``retryable``. No message or ``repr`` of these errors carries a token or a
secret: the client builds them from Zalo's ``message``/``error_name`` text and codes only.
"""

from __future__ import annotations

__all__ = [
    "AccessTokenError",
    "ApiError",
    "AttachmentExpiredError",
    "ConfigurationError",
    "FileTooLargeError",
    "InvalidParameterError",
    "InvalidRedirectUriError",
    "InvalidRequestError",
    "MalformedResponseError",
    "NetworkError",
    "NightTimeError",
    "OAConfigError",
    "OAuthError",
    "OutsideWindowError",
    "QuotaExceededError",
    "RateLimitedError",
    "ReauthorizationRequiredError",
    "RecipientRefusedError",
    "RequestTimeoutError",
    "SendFailedError",
    "ServerError",
    "StateMismatchError",
    "TooLargeError",
    "TransportError",
    "ZaloOAError",
    "api_error",
]


class ZaloOAError(Exception):
    """Base class of every error raised by ``zalogate.oa``."""

    @property
    def retryable(self) -> bool:
        """Whether trying the same call again later may succeed."""
        return False


class ConfigurationError(ZaloOAError, ValueError):
    """A client was configured with an unusable app id, secret or base URL."""


class InvalidRequestError(ZaloOAError, ValueError):
    """An argument was refused before any request was sent."""


class StateMismatchError(InvalidRequestError):
    """A consent callback whose ``state`` this process did not issue, or issued > 10 min ago."""


class FileTooLargeError(InvalidRequestError):
    """An upload larger than Zalo accepts for its kind (image 1 MB, gif and file 5 MB)."""


class TransportError(ZaloOAError):
    """No usable HTTP answer arrived; the call may or may not have reached Zalo."""

    def __init__(self, call: str, message: str) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call

    @property
    def retryable(self) -> bool:
        """Transport failures are transient."""
        return True


class RequestTimeoutError(TransportError):
    """The client-side deadline passed before the answer was complete."""


class NetworkError(TransportError):
    """Connecting, writing or reading failed, or the server closed the connection."""


class MalformedResponseError(ZaloOAError):
    """The server answered, but not with a body of the expected shape."""

    def __init__(self, call: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call
        self.status_code = status_code


class ReauthorizationRequiredError(ZaloOAError):
    """Zalo refused the refresh token: the OA must be authorised again (consent link)."""

    def __init__(self, oa_id: str, reason: str) -> None:
        super().__init__(
            f"OA {oa_id} must be authorised again ({reason}); "
            f"run `zalogate channels login --channel zalooa`"
        )
        self.oa_id = oa_id
        self.reason = reason


class ApiError(ZaloOAError):
    """Zalo answered with a non-zero ``error`` (whatever the HTTP status said).

    Attributes:
        call: the endpoint called, e.g. ``"/v3.0/oa/message/cs"``.
        error: the ``error`` code of the body (the HTTP status if there was no body).
        description: ``message`` (OpenAPI) or ``error_name``/``error_reason`` (OAuth host).
        status_code: the HTTP status of the answer.
    """

    def __init__(self, call: str, error: int, description: str, *, status_code: int) -> None:
        super().__init__(f"{call} failed: {description} (error={error}, HTTP {status_code})")
        self.call = call
        self.error = error
        self.description = description
        self.status_code = status_code


class OAuthError(ApiError):
    """The OAuth host refused a code exchange or a refresh."""


class InvalidRedirectUriError(OAuthError):
    """``-14003``: ``redirect_uri`` differs from the console's "Official Account Callback URL"."""


class AccessTokenError(ApiError):
    """The access token is invalid or expired: refresh once and retry the call once."""


class RateLimitedError(ApiError):
    """``-32`` or HTTP 429: the app's per-minute call limit. Back off; no refresh needed."""

    @property
    def retryable(self) -> bool:
        """Later, the same call may pass."""
        return True


class SendFailedError(ApiError):
    """``-200``: Zalo failed to send; one retry is reasonable."""

    @property
    def retryable(self) -> bool:
        """Zalo's own transient failure."""
        return True


class ServerError(ApiError):
    """An HTTP 5xx without a Zalo envelope."""

    @property
    def retryable(self) -> bool:
        """Zalo failed on its side."""
        return True


class InvalidParameterError(ApiError):
    """``-201``/``-233``: a field or the message type is invalid."""


class TooLargeError(ApiError):
    """``-210``: a parameter exceeds its limit (file size, count, text length)."""


class AttachmentExpiredError(ApiError):
    """``-100``: the uploaded attachment id expired; upload again."""


class OutsideWindowError(ApiError):
    """``-230``/``-232``: the user has not interacted with the OA recently enough."""


class NightTimeError(ApiError):
    """``-234``: this message type cannot be sent between 22:00 and 06:00."""

    @property
    def retryable(self) -> bool:
        """It may be sent in the morning."""
        return True


class RecipientRefusedError(ApiError):
    """The recipient cannot get it: not a follower, blocked, quota, banned, restricted."""


class QuotaExceededError(ApiError):
    """``-211``: the OA's message quota is used up."""


class OAConfigError(ApiError):
    """The OA or app is disabled, unverified, lacks a permission, or a setting is wrong."""


_CODES: dict[int, type[ApiError]] = {
    -32: RateLimitedError,
    429: RateLimitedError,
    -100: AttachmentExpiredError,
    -200: SendFailedError,
    -201: InvalidParameterError,
    -233: InvalidParameterError,
    -210: TooLargeError,
    -211: QuotaExceededError,
    -230: OutsideWindowError,
    -232: OutsideWindowError,
    -234: NightTimeError,
    -14003: InvalidRedirectUriError,
}
_CODES.update(dict.fromkeys((-216, -220, -124, 216, 401, -401), AccessTokenError))
_CODES.update(dict.fromkeys((-213, -217, -218, -227, -244, -248), RecipientRefusedError))
_CODES.update(
    dict.fromkeys((-204, -205, -209, -212, -219, -221, -223, -224, -240, -242), OAConfigError)
)


def api_error(call: str, error: int, description: str, *, status_code: int) -> ApiError:
    """The ``ApiError`` subclass for ``error`` (an OpenAPI/OAuth code or an HTTP status)."""
    cls = _CODES.get(error)
    if cls is None:
        if error <= -14000 and error > -15000:
            cls = OAuthError
        elif 500 <= error <= 599:
            cls = ServerError
        else:
            cls = ApiError
    return cls(call, error, description, status_code=status_code)
