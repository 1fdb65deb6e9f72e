"""Errors the core understands when it decides whether to retry a message.

The inbox retries a failed message with backoff unless the failure says a retry cannot help::

    Exception
    ├── NonRetryableError          retrying cannot help: dead-letter at once
    │   └── InvalidPayloadError    a journalled message that no longer parses
    └── DeliveryError              a channel's send failed; ``retryable`` decides,
                                   ``partial_ids`` lists what did go out

Any other exception counts as transient, except one that carries an HTTP ``status`` or
``status_code`` of 401 or 403 somewhere in its cause chain (the credentials are wrong).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DeliveryError",
    "InvalidPayloadError",
    "NonRetryableError",
    "describe_error",
    "is_retryable",
]

_AUTH_STATUSES = frozenset({401, 403})
_MAX_ERROR_TEXT = 500


class NonRetryableError(Exception):
    """Processing failed in a way that a retry cannot fix (the message is dead-lettered)."""


class InvalidPayloadError(NonRetryableError):
    """A message (or its journal row) is malformed."""


class DeliveryError(Exception):
    """A channel could not deliver (all of) a reply.

    Args:
        message: What failed, without secrets.
        retryable: Whether sending again may succeed (429, 5xx, timeouts, connection errors).
        partial_ids: Message ids that did go out before the failure.
    """

    def __init__(self, message: str, *, retryable: bool, partial_ids: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.partial_ids: tuple[str, ...] = tuple(partial_ids)

    @property
    def partial(self) -> bool:
        """True when part of the reply was delivered before the failure."""
        return bool(self.partial_ids)


def _status_of(exc: BaseException) -> int | None:
    for name in ("status_code", "status", "error_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether the inbox should try a message again after ``exc``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NonRetryableError):
            return False
        if isinstance(current, DeliveryError) and not current.retryable:
            return False
        if _status_of(current) in _AUTH_STATUSES:
            return False
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return True


def describe_error(exc: BaseException) -> str:
    """A short one-line description for journals and dead letters (type and message)."""
    text = str(exc).replace("\n", " ").strip()
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(described) > _MAX_ERROR_TEXT:
        described = described[: _MAX_ERROR_TEXT - 1] + "…"
    return described
