"""QR login (all steps, with the fake's phone controls) and cookie login against the fake."""

from __future__ import annotations

import asyncio
import io
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import segno

from zalogate.personal import (
    ApiError,
    Credentials,
    Endpoints,
    LoggedIn,
    LoginError,
    QrDeclined,
    QrDeclinedError,
    QrEvent,
    QrExpired,
    QrExpiredError,
    QrGenerated,
    QrScanned,
    SessionExpiredError,
    ZaloPersonal,
    load_credentials,
)
from zalogate.personal.qr import png_to_matrix
from zalogate.testing import FakeZaloPersonal

from .conftest import ALICE, BOT, UA, credentials_for, endpoints_for


def phone(
    fake: FakeZaloPersonal, events: list[QrEvent], answer: Callable[[], None]
) -> Callable[[QrEvent], None]:
    """An ``on_event`` that records every event and plays the phone: it scans each new code
    as Bot, then calls ``answer`` (``fake.qr.confirm`` or ``fake.qr.decline``)."""

    def on_event(event: QrEvent) -> None:
        events.append(event)
        if isinstance(event, QrGenerated):
            fake.qr.scan(BOT)
        elif isinstance(event, QrScanned):
            answer()

    return on_event


async def test_qr_login_emits_every_event_and_yields_a_session(fake: FakeZaloPersonal) -> None:
    events: list[QrEvent] = []
    on_event = phone(fake, events, fake.qr.confirm)

    async with ZaloPersonal(endpoints=endpoints_for(fake), user_agent=UA) as zp:
        session = await zp.login_qr(on_event=on_event)
        assert [type(e) for e in events] == [QrGenerated, QrScanned, LoggedIn]
        generated, scanned, done = events
        assert isinstance(generated, QrGenerated)
        assert isinstance(scanned, QrScanned)
        assert generated.png.startswith(b"\x89PNG")
        code = fake.qr.sessions[-1].code
        assert generated.code == code
        # The fake encodes this text; the matrix sampled from the PNG is segno's matrix.
        expected = segno.make(f"https://id.zalo.me/qr/{code}", error="m").matrix
        assert generated.matrix == tuple(tuple(bool(v) for v in row) for row in expected)
        assert "\u2588" in generated.terminal()
        assert (scanned.display_name, scanned.avatar) == ("Bot", "https://avatar.local/1001")
        assert isinstance(done, LoggedIn)
        assert done.session == session
        assert session.uid == BOT
        assert session.ws_urls[0] == fake.ws_url
        assert session.service_url("chat") == fake.base_url
        assert session.settings["features"]["socket"]["ping_interval"] == 20_000
        assert session.imei.endswith("-a69b52f9d7f760edf3fd052bcda2542f")
        creds = zp.credentials()
        assert creds.imei == session.imei
        assert {c["key"] for c in creds.cookies} >= {"zpw_sek"}
        sent = await zp.api.send_text(ALICE, "logged in by QR")
        record = await fake.wait_for_sent(kind="text")
        assert (record.sender, record.msg_id) == (BOT, sent.msg_id)

    # The credentials of the QR login work for a cookie login from a new client.
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as again:
        assert (await again.login_cookie(creds)).uid == BOT


async def test_async_event_handler_is_awaited(fake: FakeZaloPersonal) -> None:
    fake.qr.auto_approve = ALICE
    seen: list[str] = []

    async def on_event(event: QrEvent) -> None:
        await asyncio.sleep(0)
        seen.append(type(event).__name__)

    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        assert (await zp.login_qr(on_event)).uid == ALICE
    assert seen == ["QrGenerated", "QrScanned", "LoggedIn"]


async def test_declined_qr_raises_after_the_declined_event(fake: FakeZaloPersonal) -> None:
    events: list[QrEvent] = []
    on_event = phone(fake, events, fake.qr.decline)

    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(QrDeclinedError):
            await zp.login_qr(on_event)
    assert isinstance(events[-1], QrDeclined)
    assert events[-1].code == fake.qr.sessions[-1].code


async def test_server_expiry_renews_the_code_then_logs_in(fake: FakeZaloPersonal) -> None:
    events: list[QrEvent] = []

    def on_event(event: QrEvent) -> None:
        events.append(event)
        if isinstance(event, QrGenerated):
            if event.attempt == 1:
                fake.qr.expire()
            else:
                fake.qr.scan(BOT)
        elif isinstance(event, QrScanned):
            fake.qr.confirm()

    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        session = await zp.login_qr(on_event, max_renewals=2)
    assert session.uid == BOT
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["QrGenerated", "QrExpired", "QrGenerated", "QrScanned", "LoggedIn"]
    expired = events[1]
    assert isinstance(expired, QrExpired)
    assert expired.renewing
    assert len(fake.qr.sessions) == 2


async def test_renewal_limit_ends_with_qr_expired_error(fake: FakeZaloPersonal) -> None:
    events: list[QrEvent] = []

    def on_event(event: QrEvent) -> None:
        events.append(event)
        if isinstance(event, QrGenerated):
            fake.qr.expire()

    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(QrExpiredError):
            await zp.login_qr(on_event, max_renewals=1)
    expiries = [e for e in events if isinstance(e, QrExpired)]
    assert [e.renewing for e in expiries] == [True, False]
    assert len(fake.qr.sessions) == 2


async def test_local_qr_timeout_counts_as_expiry(fake: FakeZaloPersonal) -> None:
    events: list[QrEvent] = []
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(QrExpiredError):
            await zp.login_qr(events.append, qr_timeout_s=0.3, max_renewals=0)
    assert [type(e) for e in events] == [QrGenerated, QrExpired]


async def test_login_page_without_version_is_a_clear_login_error(
    fake: FakeZaloPersonal,
) -> None:
    # Point id.zalo.me at a path that serves no login page.
    bad = Endpoints(id_base=fake.base_url + "/nowhere", wpa_base=fake.base_url)
    async with ZaloPersonal(endpoints=bad) as zp:
        with pytest.raises(LoginError, match="login version"):
            await zp.login_qr()


async def test_cookie_login_decrypts_login_info_and_reads_setttings(
    fake: FakeZaloPersonal,
) -> None:
    async with ZaloPersonal(endpoints=endpoints_for(fake), client_version=671) as zp:
        session = await zp.login_cookie(credentials_for(fake, BOT))
    assert session.uid == BOT
    assert session.client_version == 671
    assert len(session.ws_urls) == 2
    assert session.settings["features"]["sharefile"]["max_file"] == 10
    assert "secret_key" not in repr(session)
    assert session.secret_key not in repr(session)


async def test_cookie_login_with_stale_cookies_is_session_expired(
    fake: FakeZaloPersonal,
) -> None:
    creds = credentials_for(fake, BOT)
    stale = Credentials(
        imei=creds.imei,
        cookies=[{**c, "value": "0" * 48} for c in creds.cookies],
        user_agent=creds.user_agent,
    )
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(SessionExpiredError) as caught:
            await zp.login_cookie(stale)
    assert caught.value.code == 600
    assert "0" * 48 not in str(caught.value)


async def test_cookie_login_with_a_foreign_user_agent_is_refused(fake: FakeZaloPersonal) -> None:
    creds = credentials_for(fake, BOT)
    wrong = Credentials(imei=creds.imei, cookies=creds.cookies, user_agent="Other/1.0")
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(ApiError):
            await zp.login_cookie(wrong)


async def test_injected_login_failure_surfaces_as_api_error(fake: FakeZaloPersonal) -> None:
    fake.fail("api/login/getLoginInfo", 1)
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        with pytest.raises(ApiError) as caught:
            await zp.login_cookie(credentials_for(fake, BOT))
    assert caught.value.outer


async def test_credentials_file_is_0600_and_round_trips(
    fake: FakeZaloPersonal, tmp_path: Path
) -> None:
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as zp:
        await zp.login_cookie(credentials_for(fake, BOT))
        target = tmp_path / "creds.json"
        zp.save_credentials(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    loaded = load_credentials(target)
    assert loaded == zp.credentials()
    assert json.loads(target.read_text())["cookies"]["cookies"][0]["key"]
    async with ZaloPersonal(endpoints=endpoints_for(fake)) as again:
        assert (await again.login_cookie(loaded)).uid == BOT


def test_png_matrix_matches_segno_for_other_scales_and_colours() -> None:
    qr = segno.make("any opaque login payload", error="l")
    expected = tuple(tuple(bool(v) for v in row) for row in qr.matrix)
    for options in ({"scale": 1}, {"scale": 7, "border": 0}, {"scale": 3, "light": None}):
        buf = io.BytesIO()
        qr.save(buf, kind="png", **options)
        assert png_to_matrix(buf.getvalue()) == expected
    with pytest.raises(ValueError, match="PNG"):
        png_to_matrix(b"GIF89a")


async def test_long_poll_outliving_the_http_deadline_is_polled_again() -> None:
    async with FakeZaloPersonal(long_poll_s=0.6) as fake:
        fake.add_account(BOT, "Bot")
        loop = asyncio.get_running_loop()

        def on_event(event: QrEvent) -> None:
            if isinstance(event, QrGenerated):
                loop.call_later(0.5, fake.qr.scan, BOT)
            elif isinstance(event, QrScanned):
                fake.qr.confirm()

        async with ZaloPersonal(endpoints=endpoints_for(fake), timeout_s=0.2) as zp:
            assert (await zp.login_qr(on_event)).uid == BOT
