"""Drivers for the ``zalogate sandbox`` tests: in process, as a script run, and at a terminal."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from zalogate.testing.fake_llm import FakeLLMServer, RecordedRequest

from .conftest import run_cli

__all__ = [
    "EXAMPLES",
    "ROOT",
    "Terminal",
    "clean_environment",
    "run_cli",
    "run_with_openai_agent",
    "write",
    "zalogate_command",
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "src" / "zalogate" / "sandbox" / "scripts"

# Anything that could point the sandbox at a user's config, state or real Zalo account.
_USER_ENVIRONMENT = (
    "ZALOGATE_CONFIG",
    "ZALOGATE_STATE_DIR",
    "ZALO_BOT_TOKEN",
    "ZALO_API_URL",
    "ZALOUSER_PROFILE",
    "ZCA_PROFILE",
)


def zalogate_command() -> list[str]:
    """The installed ``zalogate`` script next to this interpreter (else ``python -m``)."""
    script = Path(sys.executable).with_name("zalogate")
    found = str(script) if script.exists() else shutil.which("zalogate")
    return [found] if found else [sys.executable, "-m", "zalogate"]


def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No user config, no real Zalo credentials or profile, a private HOME; the child's env."""
    for name in _USER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_with_openai_agent(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    answer: str,
    channels: Mapping[str, Any],
    script: str,
    args: Sequence[str] = (),
) -> list[RecordedRequest]:
    """``sandbox --config --script`` with the openai agent against a fake LLM answering
    ``answer``; it must pass. Returns the chat completion requests."""
    with FakeLLMServer() as llm:
        llm.reply(answer)
        agent = {
            "type": "openai",
            "openai": {"baseUrl": llm.base_url, "model": "m", "apiKey": "sk-test"},
        }
        config = write(
            tmp_path, "zalogate.json5", json.dumps({"agent": agent, "channels": channels})
        )
        steps = write(tmp_path, "llm.script", script)
        code = run_cli(["sandbox", *args, "--config", str(config), "--script", str(steps)])
        out = capsys.readouterr().out
        requests = list(llm.completions)
    assert code == 0, out
    assert "agent openai" in out
    return requests


class Terminal:
    """A ``zalogate sandbox`` process driven through its stdin, read line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [*zalogate_command(), "sandbox", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.seen = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.process.stdout,), daemon=True
        )
        self._pump_thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in iter(stream.readline, ""):
            self._lines.put(line)
        self._lines.put(None)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, *texts: str, timeout: float = 30.0, start: int = 0) -> str:
        """Wait until one of ``texts`` appears after ``start``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((t for t in texts if t in self.seen[start:]), None)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{texts!r} not seen; output so far:\n{self.seen}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended before {texts!r}:\n{self.seen}")
            self.seen += line

    def poll_history(self, line: str, attempts: int = 50) -> None:
        """Ask ``/history`` until it shows ``line`` (the gateway keeps it asynchronously)."""
        for _ in range(attempts):
            start = len(self.seen)
            self.send("/history")
            if self.expect(line, "nothing pending", start=start) == line:
                return
            time.sleep(0.1)
        raise AssertionError(f"{line!r} never in /history:\n{self.seen}")

    def close(self) -> int:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise
        finally:
            self._pump_thread.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
