"""Fixtures of the zalooa channel tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.testing import FakeZaloOA


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server
