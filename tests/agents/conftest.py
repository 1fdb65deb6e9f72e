"""Shared helpers for agent tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from zalogate.agents.base import Turn
from zalogate.core.model import ChatType
from zalogate.store import Store


def _make_turn(text: str = "hello", *, session: str = "agent:main:main", **extra: object) -> Turn:
    values: dict[str, object] = {
        "session_key": session,
        "body": text,
        "text": text,
        "sender_id": "u1",
        "sender_name": "An",
        "chat_type": ChatType.DIRECT,
        "chat_id": "u1",
        "channel": "zalo",
        "account_id": "default",
        "message_id": "m1",
    }
    values.update(extra)
    return Turn(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_turn() -> Callable[..., Turn]:
    """Build a direct-chat ``Turn`` (keyword arguments override fields)."""
    return _make_turn


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened
