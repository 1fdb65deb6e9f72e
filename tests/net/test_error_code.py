"""``net.answer.error_code_of``: Zalo writes error codes as numbers or as strings."""

from __future__ import annotations

import pytest

from zalogate.net.answer import error_code_of


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (-32, -32),
        ("-216", -216),
        (" 401 ", 401),
        (True, None),
        ("x", None),
        (None, None),
        (1.5, None),
    ],
)
def test_an_error_code_is_read_from_a_number_or_its_digits(raw: object, code: int | None) -> None:
    assert error_code_of(raw) == code
