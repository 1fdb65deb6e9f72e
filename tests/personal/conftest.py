"""Fixtures for the personal-client tests: a FakeZaloPersonal world and logged-in clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from zalogate.personal import Credentials, Endpoints, ZaloPersonal
from zalogate.testing import FakeZaloPersonal

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
BOT, ALICE, CAROL, GROUP = "1001", "2001", "2002", "9001"


def endpoints_for(fake: FakeZaloPersonal) -> Endpoints:
    """Endpoints that send every login host (and the websocket) to the fake."""
    return Endpoints(
        id_base=fake.base_url,
        wpa_base=fake.base_url,
        jr_base=fake.base_url,
        ws_url_override=fake.ws_url,
    )


def credentials_for(fake: FakeZaloPersonal, uid: str) -> Credentials:
    """Saved credentials of ``uid`` for a client calling the fake directly."""
    return Credentials.from_json(fake.credentials(uid, user_agent=UA, domain="127.0.0.1"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    """A fake with Bot (friend of Alice), Alice, Carol and the group Team."""
    async with FakeZaloPersonal(long_poll_s=0.2, single_listener=False) as fake:
        fake.add_account(BOT, "Bot", phone="0900000001", friends=(ALICE,))
        fake.add_account(ALICE, "Alice", phone="0900000002")
        fake.add_account(CAROL, "Carol")
        fake.add_group(GROUP, "Team", [BOT, ALICE, CAROL], admins=(BOT,))
        yield fake


LoggedIn = Callable[[str], Awaitable[ZaloPersonal]]
CredentialsOf = Callable[[str], Credentials]


@pytest.fixture
def endpoints(fake: FakeZaloPersonal) -> Endpoints:
    """Endpoints pointing at the fake."""
    return endpoints_for(fake)


@pytest.fixture
def credentials_of(fake: FakeZaloPersonal) -> CredentialsOf:
    """Factory: saved credentials of a simulated account."""
    return lambda uid: credentials_for(fake, uid)


@pytest.fixture
async def logged_in(fake: FakeZaloPersonal) -> AsyncIterator[LoggedIn]:
    """Factory: ``await logged_in(uid)`` gives a cookie-logged-in client (closed after)."""
    opened: list[ZaloPersonal] = []

    async def make(uid: str) -> ZaloPersonal:
        zp = ZaloPersonal(endpoints=endpoints_for(fake))
        opened.append(zp)
        await zp.login_cookie(credentials_for(fake, uid))
        return zp

    yield make
    for zp in opened:
        await zp.aclose()
