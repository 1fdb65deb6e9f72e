"""What the CLI tests share: running ``zalogate`` in process, and a clean environment."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.cli.app import main
from zalogate.testing import FakeZaloBotApi


def run_cli(args: list[str]) -> int:
    """Run ``zalogate <args>`` in this process; return its exit code."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


async def cli(*args: str) -> int:
    """Run the CLI on a thread: it runs its own event loop, a fake serves on this one."""
    return await asyncio.to_thread(run_cli, list(args))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBotApi]:
    """A Bot API fake on 127.0.0.1 (tests of a personal-account command bring their own)."""
    async with FakeZaloBotApi(name="shop.bot") as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$ZALOGATE_STATE_DIR`` in the test's tmp dir, and no Zalo token or API URL from env."""
    path = tmp_path / "state"
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(path))
    monkeypatch.delenv("ZALO_BOT_TOKEN", raising=False)
    monkeypatch.delenv("ZALO_API_URL", raising=False)
    return path


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment (and state dir) with nothing of the user's: for sandbox runs."""
    from .sandbox_driver import clean_environment  # it imports run_cli from here

    return clean_environment(tmp_path, monkeypatch)
