"""Console actions through the real app: stop and restart an account, pause and resume a
conversation, prune the inbox; what the page shows afterwards."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from zalogate.core.takeover import ConversationKey
from zalogate.runtime.status import AccountState

from ..runtime.test_account_control import (
    ScriptedChannel,
    is_running,
    make_gateway,
    state_of,
    until,
)
from .test_console_security import logged_in


@pytest.mark.timeout(30)
async def test_stop_restart_pause_resume_and_prune(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        browser, csrf = await logged_in(gateway)
        try:

            async def post(path: str, **data: str) -> httpx2.Response:
                return await browser.post(path, data={"csrf": csrf, **data})

            assert (await post("/console/accounts/fake/a/stop")).status_code == 303
            assert state_of(gateway, "a").state is AccountState.STOPPED
            page = await browser.get("/console/")
            assert "stop ✓" in page.text
            assert "state-stopped" in page.text
            assert (await post("/console/accounts/fake/a/restart")).status_code == 303
            await until(is_running(gateway, "a"))
            # No login capability: the login page and log out are not offered or served.
            assert "/console/accounts/fake/a/login" not in (await browser.get("/console/")).text
            assert (await post("/console/accounts/fake/a/logout")).status_code == 404

            key = ConversationKey("fake", "a", "u1")
            assert (await post("/console/conversations/fake/a/u1/pause")).status_code == 303
            takeover = gateway.takeover
            assert takeover is not None
            assert await takeover.is_paused(key)
            page = await browser.get("/console/conversations")
            assert "Taken over" in page.text or "Đang tiếp quản" in page.text
            assert (await post("/console/conversations/fake/a/u1/resume")).status_code == 303
            assert not await takeover.is_paused(key)
            # A reply needs a running account that accepts it: the error is shown, not raised.
            await post("/console/accounts/fake/a/stop")
            await post("/console/conversations/fake/a/u1/reply", text="hello")
            page = await browser.get("/console/conversations/fake/a/u1")
            assert "not running" in page.text
            assert (await post("/console/inbox/prune", days="0")).status_code == 303
        finally:
            await browser.aclose()
