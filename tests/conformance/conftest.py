"""Fixtures that install the pinned zca-js once and drive it through ``js/driver.mjs``, and
the FakeZaloPersonal world both clients (zca-js and ours) are checked against."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from zalogate.testing import FakeZaloPersonal

BOT, ALICE, CAROL, GROUP = "1001", "2001", "2002", "9001"
USER, GROUP_THREAD = 0, 1  # zca-js ThreadType
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"

JS_DIR = Path(__file__).parent / "js"
PINNED = (
    os.environ.get("ZALOGATE_ZCAJS_VERSION")
    or json.loads((JS_DIR / "package.json").read_text())["dependencies"]["zca-js"]
)
"""The zca-js version under test: the pinned one, or ``$ZALOGATE_ZCAJS_VERSION`` (the drift
watch, ``bench/protocol_drift.py``, runs the suite against the newest release too)."""


def _cache_root() -> Path:
    override = os.environ.get("ZALOGATE_CONFORMANCE_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "zalogate-conformance"


def install_zcajs() -> Path:
    """Install the pinned zca-js into the cache (once per version); return dist/index.js."""
    target = _cache_root() / f"zca-js-{PINNED}"
    entry = target / "node_modules" / "zca-js" / "dist" / "index.js"
    if entry.exists():
        return entry
    npm = shutil.which("npm")
    assert npm is not None
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    package = json.loads((JS_DIR / "package.json").read_text())
    package["dependencies"]["zca-js"] = PINNED
    (staging / "package.json").write_text(json.dumps(package))
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=staging,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with contextlib.suppress(OSError):
        staging.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return entry


@pytest.fixture(scope="session")
def zcajs_entry() -> Path:
    """Path of the installed zca-js entry module (skips when Node.js/npm are missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the zca-js conformance test")
    return install_zcajs()


class ZcaJs:
    """A running ``driver.mjs``: ``await call(op, **args)`` and ``await event(name)``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._events_changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            if not line.strip():
                continue
            obj = json.loads(line)
            if "id" in obj and obj["id"] in self._replies:
                self._replies.pop(obj["id"]).set_result(obj)
            else:
                self.events.append(obj)
                async with self._events_changed:
                    self._events_changed.notify_all()

    async def call(self, op: str, timeout_s: float = 20.0, **args: Any) -> Any:
        """Run one driver command; raise ``AssertionError`` with zca-js's message on failure."""
        reply = await self.call_raw(op, timeout_s=timeout_s, **args)
        assert reply["ok"], f"zca-js {op} failed: {reply.get('error')}"
        return reply["result"]

    async def call_raw(self, op: str, timeout_s: float = 20.0, **args: Any) -> dict[str, Any]:
        """Run one driver command and return the raw reply (``ok``/``error``)."""
        assert self.proc.stdin is not None
        ident = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = fut
        self.proc.stdin.write((json.dumps({"id": ident, "op": op, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(timeout_s):
            return await fut

    async def event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout_s: float = 10.0,
    ) -> dict[str, Any]:
        """Wait for (and consume) the first event called ``name`` matching ``predicate``."""

        def find() -> dict[str, Any] | None:
            for ev in self.events:
                if ev.get("event") == name and (predicate is None or predicate(ev)):
                    return ev
            return None

        async with asyncio.timeout(timeout_s), self._events_changed:
            await self._events_changed.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        self.events.remove(found)
        return found

    async def close(self) -> None:
        """Ask the driver to exit; kill it if it does not."""
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.call_raw("exit", timeout_s=2.0)
            try:
                async with asyncio.timeout(3.0):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()


@pytest.fixture
def start_zcajs(zcajs_entry: Path) -> Callable[[str], Any]:
    """Factory: ``async with start_zcajs(fake.base_url) as js`` runs one driver process."""

    @contextlib.asynccontextmanager
    async def start(base_url: str) -> AsyncIterator[ZcaJs]:
        node = shutil.which("node")
        assert node is not None
        env = {**os.environ, "ZCA_JS_ENTRY": str(zcajs_entry), "FAKE_BASE": base_url}
        proc = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "driver.mjs"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        js = ZcaJs(proc)
        try:
            await js.event("ready", timeout_s=15.0)
            yield js
        finally:
            await js.close()

    return start


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    """Bot (friend of Alice), Alice, Carol and the group Team (Bot is its admin)."""
    async with FakeZaloPersonal(long_poll_s=0.3, ping_interval_ms=500) as fake:
        fake.add_account(BOT, "Bot", phone="0900000001", friends=(ALICE,))
        fake.add_account(ALICE, "Alice", phone="0900000002")
        fake.add_account(CAROL, "Carol")
        fake.add_group(GROUP, "Team", [BOT, ALICE, CAROL], admins=(BOT,))
        yield fake
