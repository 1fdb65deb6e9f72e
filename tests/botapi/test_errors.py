"""The error tree: branches, codes and retryability."""

from __future__ import annotations

import pytest

from zalogate.botapi import (
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    ZaloBotError,
)
from zalogate.botapi.errors import api_error_class


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (403, UnauthorizedError),
        (404, NotFoundError),
        (408, ApiTimeoutError),
        (409, ConflictError),
        (413, BadRequestError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
        (-1, ApiError),
        (200, ApiError),
    ],
)
def test_codes_pick_their_class(code: int, expected: type[ApiError]) -> None:
    assert api_error_class(code) is expected


def test_branches_are_separate() -> None:
    assert issubclass(RequestTimeoutError, TransportError)
    assert issubclass(NetworkError, TransportError)
    for branch in (TransportError, ApiError, MalformedResponseError, ConfigurationError):
        assert issubclass(branch, ZaloBotError)
    assert not issubclass(TransportError, ApiError)
    assert not issubclass(MalformedResponseError, ApiError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidRequestError, ValueError)


def test_retryable_follows_the_code() -> None:
    assert ServerError("m", 502, "Bad Gateway", status_code=502).retryable
    assert RateLimitedError("m", None, "Too Many Requests", status_code=429).retryable
    assert ApiTimeoutError("m", 408, "Request timeout", status_code=200).retryable
    assert not UnauthorizedError("m", 401, "Unauthorized", status_code=200).retryable
    assert not BadRequestError("m", 400, "Bad request", status_code=200).retryable
    assert NetworkError("m", "boom").retryable
    assert not ConfigurationError("bad").retryable


def test_message_names_method_description_and_codes() -> None:
    error = UnauthorizedError("getMe", 401, "Unauthorized", status_code=200)
    assert str(error) == "getMe failed: Unauthorized (error_code=401, HTTP 200)"
