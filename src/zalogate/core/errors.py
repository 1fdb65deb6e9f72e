"""The error contract between channels, the inbox and the supervisor, and its one classifier.

Every failure is classified once, by :func:`classify`, into a :class:`FailureKind`; the inbox
(retry a message or dead-letter it) and the gateway's supervisor (restart a monitor, slowly,
or not at all) both read that one answer::

    Exception
    ├── NonRetryableError          retrying cannot help: dead-letter at once (FATAL)
    │   └── InvalidPayloadError    a journalled message that no longer parses
    └── ChannelError               a channel's failure; ``kind`` carries the classification
        └── DeliveryError          a send failed; ``partial_ids`` lists what did go out

A channel subclasses :class:`ChannelError` (``kind`` as a class attribute, or per instance) so
that a third-party channel is classified exactly like the built-in ones. Any other exception
is transient (``RETRYABLE``), except one that carries an HTTP status of 401 or 403 in
``status_code`` or ``status`` (an HTTP library's error: the credentials are wrong).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

__all__ = [
    "ChannelError",
    "DeliveryError",
    "FailureKind",
    "InvalidPayloadError",
    "NonRetryableError",
    "cause_chain",
    "classify",
    "describe_error",
    "is_retryable",
]

_AUTH_STATUSES = frozenset({401, 403})
_MAX_ERROR_TEXT = 500
_MAX_CHAIN = 16


class FailureKind(enum.StrEnum):
    """What a failure means for whoever must decide what happens next."""

    RETRYABLE = "retryable"
    """Transient (a timeout, a 5xx, a dropped connection): try again with backoff."""
    UNAUTHORIZED = "unauthorized"
    """The credentials are missing, wrong or revoked: retry slowly, a login may fix it."""
    FATAL = "fatal"
    """Retrying cannot help until someone changes something (config, another session)."""
    DELIVERY_UNKNOWN = "delivery_unknown"
    """A send may or may not have reached Zalo (reset after the request was written, a read
    timeout): a resend may duplicate the message."""

    @property
    def retryable(self) -> bool:
        """Whether trying again may succeed (``RETRYABLE`` and ``DELIVERY_UNKNOWN``)."""
        return self in (FailureKind.RETRYABLE, FailureKind.DELIVERY_UNKNOWN)


class NonRetryableError(Exception):
    """Processing failed in a way that a retry cannot fix (the message is dead-lettered)."""


class InvalidPayloadError(NonRetryableError):
    """A message (or its journal row) is malformed."""


class ChannelError(Exception):
    """A channel's failure, with its classification.

    Args:
        message: What failed, without secrets.
        kind: Overrides the class's :attr:`kind` for this instance.
    """

    kind: FailureKind = FailureKind.RETRYABLE
    """The classification; subclasses set it as a class attribute."""

    def __init__(self, message: str = "", *, kind: FailureKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def unauthorized(self) -> bool:
        """True when the credentials are the problem."""
        return self.kind is FailureKind.UNAUTHORIZED

    @property
    def fatal(self) -> bool:
        """True when restarting cannot help."""
        return self.kind is FailureKind.FATAL

    @property
    def retryable(self) -> bool:
        """True when trying again may succeed."""
        return self.kind.retryable


class DeliveryError(ChannelError):
    """A channel could not deliver (all of) a reply.

    Args:
        message: What failed, without secrets.
        retryable: Whether sending again may succeed (429, 5xx, timeouts, connection errors);
            False classifies the failure as ``FATAL``.
        partial_ids: Message ids that did go out before the failure.
        kind: The classification, instead of ``retryable`` (e.g. ``DELIVERY_UNKNOWN``).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        partial_ids: Iterable[str] = (),
        kind: FailureKind | None = None,
    ) -> None:
        if kind is None:
            kind = FailureKind.RETRYABLE if retryable else FailureKind.FATAL
        super().__init__(message, kind=kind)
        self.partial_ids: tuple[str, ...] = tuple(partial_ids)

    @property
    def partial(self) -> bool:
        """True when part of the reply was delivered before the failure."""
        return bool(self.partial_ids)


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then its explicit cause, else its (not suppressed) context, and so on."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _http_status(exc: BaseException) -> int | None:
    for value in (getattr(exc, "status_code", None), getattr(exc, "status", None)):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def classify(exc: BaseException) -> FailureKind:
    """The one classification of a failure (the first decisive link of its cause chain).

    The first :class:`ChannelError` decides by its ``kind`` (the channel classified what it
    saw); a :class:`NonRetryableError` is ``FATAL``; an HTTP status of 401/403 is
    ``UNAUTHORIZED``; anything else is ``RETRYABLE``.
    """
    for link in cause_chain(exc):
        if isinstance(link, ChannelError):
            return link.kind
        if isinstance(link, NonRetryableError):
            return FailureKind.FATAL
        if _http_status(link) in _AUTH_STATUSES:
            return FailureKind.UNAUTHORIZED
    return FailureKind.RETRYABLE


def is_retryable(exc: BaseException) -> bool:
    """Whether the inbox should try a message again after ``exc``."""
    return classify(exc).retryable


def describe_error(exc: BaseException) -> str:
    """A short one-line description for journals and dead letters (type and message)."""
    text = str(exc).replace("\n", " ").strip()
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(described) > _MAX_ERROR_TEXT:
        described = described[: _MAX_ERROR_TEXT - 1] + "…"
    return described
