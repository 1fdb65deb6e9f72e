"""Console sessions survive a gateway restart (stored hashed, expiring), and the password form
is rate-limited per client address."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from zalogate.console.auth import COOKIE_NAME, SESSION_TTL_S, ConsoleAuth
from zalogate.console.sessions import LoginThrottle, SqliteSessionStore, hash_cookie
from zalogate.store import DATABASE_FILENAME, Store

from .test_console_security import PASSWORD, REMOTE, client, gateway_for, link_of


async def test_a_session_survives_a_restart_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    async with gateway_for(tmp_path) as gateway, client(gateway) as browser:
        assert (await browser.get(link_of(gateway))).status_code == 303
        cookie = browser.cookies[COOKIE_NAME]
    conn = sqlite3.connect(tmp_path / "state" / DATABASE_FILENAME)
    stored = conn.execute("SELECT key FROM console_sessions").fetchall()
    conn.close()
    assert stored == [(hash_cookie(cookie),)]

    async with gateway_for(tmp_path) as again, client(again) as browser:
        browser.cookies.set(COOKIE_NAME, cookie)
        page = await browser.get("/console/", headers={"Accept": "text/html"})
        assert page.status_code == 200  # still logged in after the restart
        browser.cookies.set(COOKIE_NAME, hash_cookie(cookie))  # the stored value is no cookie
        assert (await browser.get("/console/inbox")).status_code == 401


async def test_stored_sessions_expire_and_logging_out_forgets_them(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    async with await Store.open(tmp_path) as store:
        first = ConsoleAuth(lambda: "k", clock=lambda: now[0], store=SqliteSessionStore(store))
        await first.load()
        kept, gone = first.open_session(), first.open_session()
        first.close(gone)
        await store.write(lambda conn: None)  # after the queued session writes

        later = ConsoleAuth(lambda: "k", clock=lambda: now[0], store=SqliteSessionStore(store))
        await later.load()
        assert later.session(kept.cookie) is not None
        assert later.session(gone.cookie) is None

        now[0] += SESSION_TTL_S + 1
        expired = ConsoleAuth(lambda: "k", clock=lambda: now[0], store=SqliteSessionStore(store))
        await expired.load()
        assert expired.session(kept.cookie) is None
        assert await store.fetchall("SELECT key FROM console_sessions") == []


async def test_five_wrong_passwords_a_minute_then_429_with_retry_after(tmp_path: Path) -> None:
    async with (
        gateway_for(tmp_path, password=PASSWORD) as gateway,
        client(gateway, REMOTE) as remote,
        client(gateway, ("203.0.113.8", 40000)) as neighbour,
    ):
        for _ in range(5):
            wrong = await remote.post("/console/login", data={"password": "nope"})
            assert wrong.status_code == 401
        refused = await remote.post("/console/login", data={"password": PASSWORD})
        assert refused.status_code == 429  # even the right password, until the window passes
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "set-cookie" not in refused.headers
        # Another address is not affected.
        assert (
            await neighbour.post("/console/login", data={"password": PASSWORD})
        ).status_code == 303


def test_the_throttle_window_slides_and_a_success_resets_it() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    throttle.failed("a")
    now[0] = 30
    throttle.failed("a")
    assert throttle.retry_after("a") == 30
    now[0] = 60.5  # the first failure left the window
    assert throttle.retry_after("a") is None
    throttle.failed("a")
    assert throttle.retry_after("a") is not None
    throttle.succeeded("a")
    assert throttle.retry_after("a") is None
