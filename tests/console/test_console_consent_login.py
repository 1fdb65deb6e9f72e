"""A zalooa account whose refresh Zalo refused is authorised again from the console: the
overview offers "Log in again", the login page streams the consent link, the admin allows
access on ``FakeZaloOA``, the gateway's callback saves the pair, the account restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.oa import TokenFile
from zalogate.runtime.logging import clear_registered_secrets
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloOA

from ..channels.zalooa.test_login import admin_allows
from ..channels.zalooa.world import Agent, sends_again, started, until, world
from .test_console_security import logged_in

REDIRECT = "https://gw.example.com/zalooa/default/oauth"
"""The Callback URL saved in the Zalo console (the gateway behind a proxy)."""


async def _events(stream: httpx2.Response) -> Any:
    async for line in stream.aiter_lines():
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


@pytest.mark.timeout(60)
async def test_the_console_reauthorises_an_oa_through_the_consent_link(tmp_path: Path) -> None:
    async with FakeZaloOA() as fake:
        fake.redirect_uri = REDIRECT
        gateway = world(fake, tmp_path, Agent(), redirectUri=REDIRECT)
        tokens = TokenFile(tmp_path / "state" / "zalooa" / "default", "grant")
        tokens.mark_reauth("refresh refused: error -14014")
        try:
            async with gateway:
                await started(gateway, fake)
                browser, csrf = await logged_in(gateway)
                try:
                    await browser.post("/console/lang/en", data={"csrf": csrf})
                    overview = (await browser.get("/console/")).text
                    assert "Log in again" in overview
                    assert 'href="/console/accounts/zalooa/default/login"' in overview

                    started_login = await browser.post(
                        "/console/accounts/zalooa/default/login", data={"csrf": csrf}
                    )
                    assert started_login.status_code == 303
                    page = (await browser.get("/console/accounts/zalooa/default/login")).text
                    assert 'id="login-link"' in page
                    assert 'target="_blank"' in page

                    # The page's EventSource: a real connection, the same session cookie.
                    steps: list[str] = []
                    async with (
                        httpx2.AsyncClient(
                            base_url=gateway.url,
                            cookies=browser.cookies,
                            trust_env=False,
                            timeout=20,
                        ) as tab,
                        tab.stream("GET", "/console/accounts/zalooa/default/login/events") as s,
                    ):
                        assert s.status_code == 200
                        async for event in _events(s):
                            steps.append(event["step"])
                            if event["step"] == "link":
                                assert "allow access" in event["text"]
                                callback = httpx2.URL(await admin_allows(event["link"]))
                                assert str(callback).startswith(REDIRECT)
                                # Zalo sends the admin's browser to the gateway's callback.
                                landed = await browser.get(
                                    callback.path, params=dict(callback.params)
                                )
                                assert landed.status_code == 200, landed.text
                            if event["step"] == "end":
                                break
                    assert steps[0] == "starting"
                    assert "link" in steps
                    assert steps[-2:] == ["done", "end"], steps
                    assert "failed" not in steps

                    assert tokens.reauth_reason() is None
                    assert not (tokens.path.parent / "consent.json").exists()

                    def running() -> bool:
                        return any(
                            r.channel == "zalooa" and r.state is AccountState.RUNNING
                            for r in gateway.status()
                        )

                    await until(running)
                    assert "Log in again" not in (await browser.get("/console/")).text
                    # The restarted account sends with the new grant.
                    await sends_again(gateway, fake)
                finally:
                    await browser.aclose()
        finally:
            clear_registered_secrets()
