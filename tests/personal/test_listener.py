"""The websocket listener against FakeZaloPersonal (and two tiny purpose-built servers)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from zalogate.backoff import BackoffConfig
from zalogate.personal import Credentials, Endpoints, ZaloPersonal, frames
from zalogate.personal import frames as f
from zalogate.personal.events import FileDone, GroupMessage, UserMessage
from zalogate.personal.listener import Listener
from zalogate.personal.listener_lifecycle import (
    CloseReason,
    Connected,
    Disconnected,
    ListenerClosedError,
    ListenerEvent,
    ListenerReplacedError,
)
from zalogate.personal.reconnect import ReconnectPolicy, ReconnectRule
from zalogate.personal.session import Session, ThreadType
from zalogate.testing import FakeZaloPersonal

E = TypeVar("E")
LoggedIn = Callable[[str], Any]  # the conftest fixture: await logged_in(uid) -> ZaloPersonal
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
BOT, ALICE, CAROL, GROUP = "1001", "2001", "2002", "9001"
QUICK = BackoffConfig(min_delay=0.01, max_delay=0.05)


def endpoints_for(fake: FakeZaloPersonal) -> Endpoints:
    return Endpoints(
        id_base=fake.base_url,
        wpa_base=fake.base_url,
        jr_base=fake.base_url,
        ws_url_override=fake.ws_url,
    )


FAST = ReconnectPolicy(
    rules={1006: ReconnectRule(5, (10, 20)), 3003: ReconnectRule(1, (10,))},
    retry_codes=frozenset({1006, 3003}),
    rotate_codes=frozenset({1006}),
)


def fast_session(session: Session, ping_ms: int = 50) -> Session:
    """The session with a short ping interval (everything else as the fake sent it)."""
    settings = dict(session.settings)
    features = dict(settings.get("features", {}))
    features["socket"] = {**features.get("socket", {}), "ping_interval": ping_ms}
    settings["features"] = features
    return dataclasses.replace(session, settings=settings)


async def next_of(listener: Listener, kind: type[E], timeout_s: float = 5.0) -> E:
    """The next event of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout_s):
        async for event in listener:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"listener ended before a {kind.__name__}")


async def run_out(listener: Listener, timeout_s: float = 5.0) -> list[ListenerEvent]:
    """Every event until the iteration ends (its exception propagates)."""
    async with asyncio.timeout(timeout_s):
        return [event async for event in listener]


@pytest.fixture
async def listen(logged_in: LoggedIn) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await listen(uid, **options)`` gives a started, connected listener."""
    opened: list[Listener] = []

    async def make(uid: str, *, override: bool = True, **options: Any) -> Listener:
        zp = await logged_in(uid)
        options.setdefault("reconnect", FAST)
        options.setdefault("backoff", QUICK)
        options.setdefault("on_file_done", zp.api.resolve_file_done)
        endpoints = zp.endpoints if override else None
        listener = Listener(fast_session(zp.session), zp.http, endpoints=endpoints, **options)
        opened.append(listener)
        await listener.start()
        await listener.wait_connected(timeout_s=5)
        return listener

    yield make
    for listener in opened:
        await listener.close()


async def test_dm_group_and_self_messages_arrive_as_typed_events(
    fake: FakeZaloPersonal, listen: Callable[..., Any], logged_in: LoggedIn
) -> None:
    listener = await listen(BOT)
    await fake.user(ALICE).says_to(BOT, "xin chào 👋")
    dm = await next_of(listener, UserMessage)
    assert (dm.thread_id, dm.sender_id, dm.text, dm.is_self) == (ALICE, ALICE, "xin chào 👋", False)

    await fake.group(GROUP).user(CAROL).says("@Bot hi", mentions=[BOT])
    grp = await next_of(listener, GroupMessage)
    assert grp.thread_id == GROUP
    assert [(m.uid, m.text_in(grp.text)) for m in grp.mentions] == [(BOT, "@Bot")]

    phone = await logged_in(BOT)  # the same account on another device
    await phone.api.send_text(ALICE, "sent from my phone")
    own = await next_of(listener, UserMessage)
    assert (own.is_self, own.thread_id, own.sender_id) == (True, ALICE, BOT)
    assert listener.stats.bad_frames == 0


async def test_self_messages_can_be_dropped(
    fake: FakeZaloPersonal, listen: Callable[..., Any], logged_in: LoggedIn
) -> None:
    listener = await listen(BOT, self_listen=False)
    phone = await logged_in(BOT)
    await phone.api.send_text(ALICE, "from the phone")
    await fake.user(ALICE).says_to(BOT, "after")
    event = await next_of(listener, UserMessage)
    assert event.text == "after"


async def test_file_done_resolves_the_waiter(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    done: list[tuple[str, str]] = []
    listener = await listen(BOT, on_file_done=lambda file_id, url: done.append((file_id, url)))
    control = {"content": {"act_type": "file_done", "fileId": 42, "data": {"url": "http://f/1"}}}
    await fake.push_event(BOT, 601, {"controls": [control]})
    event = await next_of(listener, FileDone)
    assert event == FileDone("42", "http://f/1")
    assert done == [("42", "http://f/1")]


async def test_pings_follow_the_server_interval(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT)
    async with asyncio.timeout(5):
        while fake.pings.get(BOT, 0) < 3:
            await asyncio.sleep(0.02)
    assert listener.stats.pings_sent >= 3


async def test_abnormal_close_reconnects_and_rotates_endpoints(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT, override=False)
    assert listener.url == fake.ws_url
    await fake.drop(BOT)
    gone = await next_of(listener, Disconnected)
    assert (gone.reason, gone.code, gone.will_retry) == (CloseReason.ABNORMAL, 1006, True)
    back = await next_of(listener, Connected)
    assert back.url == fake.ws_url + "2"
    assert back.connection == 2
    # still receiving on the second endpoint
    await fake.user(ALICE).says_to(BOT, "still here?")
    assert (await next_of(listener, UserMessage)).text == "still here?"
    await fake.drop(BOT)
    assert (await next_of(listener, Connected)).url == fake.ws_url


async def test_retry_budget_comes_from_the_server_and_then_stops(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT)
    await fake.kick(BOT)  # 3003: one retry allowed
    kicked = await next_of(listener, Disconnected)
    assert (kicked.reason, kicked.code, kicked.will_retry) == (CloseReason.KICKED, 3003, True)
    await next_of(listener, Connected)
    await fake.kick(BOT)
    with pytest.raises(ListenerClosedError) as closed:
        await run_out(listener)
    assert closed.value.reason is CloseReason.KICKED
    assert not isinstance(closed.value, ListenerReplacedError)
    assert listener.final is not None
    assert listener.final.will_retry is False


async def test_duplicate_connection_stops_instead_of_fighting(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT)
    await fake.duplicate_connection(BOT)
    with pytest.raises(ListenerReplacedError) as dup:
        await run_out(listener)
    assert dup.value.reason is CloseReason.DUPLICATE_CONNECTION
    assert "duplicate_connection" in str(dup.value)
    assert not listener.running
    assert fake.listener_count(BOT) == 0
    with pytest.raises(ListenerReplacedError):  # iteration stays ended
        await listener.__anext__()


async def test_a_new_web_session_elsewhere_ends_ours() -> None:
    async with FakeZaloPersonal(single_listener=True) as fake:
        fake.add_account(BOT, "Bot")
        first, second = await _login(fake, BOT), await _login(fake, BOT)
        async with Listener(first.session, first.http, endpoints=endpoints_for(fake)) as ours:
            await ours.wait_connected(5)
            async with Listener(second.session, second.http, endpoints=endpoints_for(fake)) as new:
                await new.wait_connected(5)
                with pytest.raises(ListenerReplacedError):
                    await run_out(ours)
                assert new.connected


_opened: list[ZaloPersonal] = []


async def _login(fake: FakeZaloPersonal, uid: str) -> ZaloPersonal:
    zp = ZaloPersonal(endpoints=endpoints_for(fake))
    _opened.append(zp)
    creds = fake.credentials(uid, user_agent=UA, domain="127.0.0.1")
    await zp.login_cookie(Credentials.from_json(creds))
    return zp


@pytest.fixture(autouse=True)
async def _close_opened() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().aclose()


async def test_tampered_frame_is_skipped_and_the_next_one_delivered(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT)
    fake.tamper_next_event(BOT)
    await fake.user(ALICE).says_to(BOT, "tampered")
    await fake.user(ALICE).says_to(BOT, "intact")
    event = await next_of(listener, UserMessage)
    assert event.text == "intact"
    assert listener.stats.bad_frames == 1
    assert listener.connected


async def test_host_sleep_is_noticed_and_the_socket_replaced(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    offset = [0.0]
    listener = await listen(BOT, wall_clock=lambda: 1_700_000_000 + offset[0])
    offset[0] += 3600  # the wall clock jumps an hour between two watchdog ticks
    gone = await next_of(listener, Disconnected)
    assert (gone.reason, gone.will_retry) == (CloseReason.HOST_SLEEP, True)
    assert (await next_of(listener, Connected)).connection == 2


async def test_rejected_cookies_end_the_listener(
    fake: FakeZaloPersonal, logged_in: LoggedIn
) -> None:
    zp = await logged_in(BOT)

    class NoCookies:
        user_agent = zp.http.user_agent

        def cookie_header(self, url: str) -> str:
            return ""

    listener = Listener(zp.session, NoCookies(), endpoints=endpoints_for(fake))
    with pytest.raises(ListenerClosedError) as closed:
        await listener.wait_connected(5)
    assert closed.value.reason is CloseReason.REJECTED
    assert "403" in str(closed.value)


async def test_close_ends_iteration_and_the_socket(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    listener = await listen(BOT)
    await fake.wait_for_listener(BOT)
    await listener.close()
    seen = await run_out(listener)
    assert isinstance(seen[-1], Disconnected)
    assert seen[-1].reason is CloseReason.MANUAL
    async with asyncio.timeout(5):
        while fake.listener_count(BOT):
            await asyncio.sleep(0.01)
    await listener.close()  # idempotent


async def test_callbacks_only_mode(fake: FakeZaloPersonal, logged_in: LoggedIn) -> None:
    zp = await logged_in(BOT)
    got: list[ListenerEvent] = []

    async def on_event(event: ListenerEvent) -> None:
        got.append(event)

    listener = Listener(
        zp.session, zp.http, endpoints=endpoints_for(fake), on_event=on_event, buffer_events=False
    )
    async with listener:
        await listener.wait_connected(5)
        await fake.user(ALICE).says_to(BOT, "callback")
        async with asyncio.timeout(5):
            while not any(isinstance(e, UserMessage) for e in got):
                await asyncio.sleep(0.01)
        with pytest.raises(Exception, match="on_event"):
            aiter(listener)
    assert isinstance(got[0], Connected)
    assert isinstance(got[-1], Disconnected)


async def test_history_request_is_answered_with_old_messages(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    from zalogate.personal.events import OldMessages

    listener = await listen(BOT)
    await fake.user(ALICE).says_to(BOT, "earlier")
    await next_of(listener, UserMessage)
    thread = ThreadType.USER
    req_id = await listener.request_old_messages(thread)
    old = await next_of(listener, OldMessages)
    assert old.req_id == req_id
    assert [m.text for m in old.messages if isinstance(m, UserMessage)] == ["earlier"]


async def test_history_pages_back_with_last_id_and_a_malformed_request_is_ignored(
    fake: FakeZaloPersonal, listen: Callable[..., Any]
) -> None:
    from zalogate.personal.events import OldMessages

    fake.history_page_size = 2
    listener = await listen(BOT)
    for n in range(3):
        await fake.user(ALICE).says_to(BOT, f"m{n}")
        await next_of(listener, UserMessage)
    # zca-js always sends preIds: [] (listen.js requestOldMessages): the fake ignores this.
    await listener.send(510, 1, {"first": True, "lastId": None, "preIds": ["x"]})
    await listener.request_old_messages(ThreadType.USER)
    first = await next_of(listener, OldMessages)
    assert [m.text for m in first.messages if isinstance(m, UserMessage)] == ["m1", "m2"]
    await listener.request_old_messages(ThreadType.USER, first.messages[0].msg_id)
    older = await next_of(listener, OldMessages)
    assert [m.text for m in older.messages if isinstance(m, UserMessage)] == ["m0"]
    assert fake.ws_refusals == ["cmd 510 preIds must be an empty list"]


def test_retry_policy_reads_the_servers_settings_including_scalar_times() -> None:
    settings = {
        "features": {
            "socket": {
                "retries": {
                    "1006": {"max": 5, "times": [1000, 2000]},
                    "3003": {"max": 1, "times": 5000},
                },
                "close_and_retry_codes": [1006, 3003],
                "rotate_error_codes": [1006],
            }
        }
    }
    policy = ReconnectPolicy.from_settings(settings)
    assert policy.rules == {1006: ReconnectRule(5, (1000, 2000)), 3003: ReconnectRule(1, (5000,))}
    assert [policy.rules[1006].delay_s(n) for n in (1, 2, 3, 9)] == [1.0, 2.0, 2.0, 2.0]
    assert policy.retry_codes == {1006, 3003}
    assert policy.rotate_codes == {1006}
    assert ReconnectPolicy.from_settings({}) == ReconnectPolicy()


# ---------------------------------------------------------------- purpose-built servers


async def test_reference_headers_url_and_garbage_frames(
    fake: FakeZaloPersonal, logged_in: LoggedIn
) -> None:
    """A server that records the upgrade, then sends every kind of garbage before one event."""
    zp = await logged_in(BOT)
    key = os.urandom(32)
    seen: list[Request] = []
    valid = frames.encode_event_frame(
        501,
        0,
        {"data": {"msgs": [{"msgId": "1", "uidFrom": ALICE, "idTo": "0", "content": "ok"}]}},
        encrypt=2,
        key=key,
    )
    tampered = bytearray(valid)
    tampered[-20] ^= 1

    def record(conn: ServerConnection, request: Request) -> None:
        seen.append(request)

    async def handler(conn: ServerConnection) -> None:
        early = frames.encode_event_frame(501, 0, {"data": {"msgs": []}}, encrypt=2, key=key)
        await conn.send(early)  # before the key: cannot be decrypted, skipped
        await conn.send(frames.key_frame(key))
        for junk in (
            b"\x01",
            b"\x01\xf5\x01\x00",  # header only: ignored
            b"\x01\xf5\x01\x00{not json",
            b"\x01\xf5\x01\x00" + os.urandom(64),
            frames.encode_frame(501, 0, {"data": "%%%", "encrypt": 2}),
            frames.encode_frame(501, 0, {"nodata": 1}),
            bytes(tampered),
            frames.encode_frame(1, 1, {"key": "short"}),
        ):
            await conn.send(junk)
        await conn.send("a text frame is ignored")
        await conn.send(valid)
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=record) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ws/v2?foo=1"
        session = dataclasses.replace(zp.session, ws_urls=(url,))
        async with Listener(session, zp.http) as listener:
            event = await next_of(listener, UserMessage)
            assert event.text == "ok"
            # before-the-key, 1-byte, bad JSON, random, bad data, no data, tampered, short key
            assert listener.stats.bad_frames == 8
    (request,) = seen
    headers = request.headers
    assert headers["Origin"] == "https://chat.zalo.me"
    assert headers["User-Agent"] == zp.http.user_agent
    assert headers["Accept-Language"] == "en-US,en;q=0.9"
    assert headers["Cache-Control"] == "no-cache"
    assert "zpw_sek=" in headers["Cookie"]
    assert "permessage-deflate" in headers["Sec-WebSocket-Extensions"]
    path, _, query = request.path.partition("?")
    assert path == "/ws/v2"
    params = dict(p.split("=") for p in query.split("&"))
    assert params["foo"] == "1"
    assert params["zpw_ver"] == str(zp.session.client_version)
    assert params["zpw_type"] == "30"
    assert params["t"].isdigit()


async def test_silent_socket_is_probed_and_replaced(logged_in: LoggedIn) -> None:
    """A server that sends the key, then stops reading (so it never answers a ping)."""
    zp = await logged_in(BOT)
    key = os.urandom(16)
    connections = 0

    async def handler(conn: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await conn.send(frames.key_frame(key))
        if connections == 1:
            conn.transport.pause_reading()
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, close_timeout=0.5) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        session = fast_session(
            dataclasses.replace(zp.session, ws_urls=(f"ws://127.0.0.1:{port}/",))
        )
        listener = Listener(
            session, zp.http, reconnect=FAST, stale_after_pings=2, pong_timeout_s=0.2, backoff=QUICK
        )
        async with listener:
            gone = await next_of(listener, Disconnected)
            assert (gone.reason, gone.will_retry) == (CloseReason.STALE, True)
            assert (await next_of(listener, Connected)).connection == 2
            assert listener.stats.probes >= 1


async def test_a_socket_that_never_sends_the_key_is_replaced(logged_in: LoggedIn) -> None:
    zp = await logged_in(BOT)
    connections = 0

    async def handler(conn: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:
            await conn.send(frames.key_frame(os.urandom(32)))
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        session = fast_session(
            dataclasses.replace(zp.session, ws_urls=(f"ws://127.0.0.1:{port}/",))
        )
        listener = Listener(session, zp.http, reconnect=FAST, backoff=QUICK, open_timeout_s=0.2)
        async with listener:
            gone = await next_of(listener, Disconnected)
            assert (gone.reason, gone.detail) == (
                CloseReason.STALE,
                "no key frame after the upgrade",
            )
            await listener.wait_connected(5)
        assert connections == 2
        with pytest.raises(Exception, match="closed"):
            await listener.start()


async def test_close_while_waiting_to_retry_reports_a_manual_end(
    fake: FakeZaloPersonal, logged_in: LoggedIn
) -> None:
    zp = await logged_in(BOT)
    got: list[ListenerEvent] = []
    slow = ReconnectPolicy(rules={1006: ReconnectRule(5, (60_000,))}, retry_codes=frozenset({1006}))
    listener = Listener(
        zp.session, zp.http, endpoints=endpoints_for(fake), reconnect=slow, on_event=got.append
    )
    await listener.wait_connected(5)
    await fake.drop(BOT)
    async with asyncio.timeout(5):
        while not any(isinstance(e, Disconnected) for e in got):
            await asyncio.sleep(0.01)
    gone = got[-1]
    assert isinstance(gone, Disconnected)
    assert gone == Disconnected(CloseReason.ABNORMAL, 1006, "", True, gone.retry_in_s)
    assert gone.retry_in_s is not None
    assert gone.retry_in_s > 30  # the server's 60 s, jittered
    async with asyncio.timeout(2):  # does not wait out the 60 s retry delay
        await listener.close()
    final = await listener.wait_closed()
    assert final.reason is CloseReason.MANUAL
    assert got[-1] is final


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)
GARBAGE_KEY = bytes(range(32))
payloads = st.fixed_dictionaries({"data": json_values}) | json_values
bodies = (
    st.binary(max_size=120)
    | st.builds(
        lambda d, e: f.dumps({"data": d, "encrypt": e}).encode(),
        st.text(max_size=40),
        st.integers(-1, 4),
    )
    | st.builds(
        lambda p, e: f.dumps(f.encode_event(p, encrypt=e, key=GARBAGE_KEY)).encode(),
        payloads,
        st.integers(0, 3),
    )
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cmd=st.sampled_from([501, 502, 510, 511, 521, 522, 601, 602, 610, 611, 612, 2, 777]),
    sub_cmd=st.integers(0, 3),
    body=bodies,
)
def test_no_frame_content_escapes_the_frame_handler(cmd: int, sub_cmd: int, body: bytes) -> None:
    session = Session(
        uid=BOT,
        imei="imei",
        secret_key="AAECAwQFBgcICQoLDA0ODw==",
        user_agent=UA,
        language="vi",
        client_version=685,
        service_map={},
        ws_urls=("ws://127.0.0.1:9/",),
        settings={},
    )

    class Cookies:
        user_agent = UA

        def cookie_header(self, url: str) -> str:
            return ""

    async def feed() -> None:
        listener = Listener(session, Cookies())
        listener._cipher = f.EventCipher(GARBAGE_KEY)
        frame = struct.pack("<BHB", 1, cmd, sub_cmd) + body
        await listener._on_frame(None, frame, [])  # type: ignore[arg-type]
        try:
            f.decode_event_frame(frame, GARBAGE_KEY)
            decodable = True
        except f.FrameError:
            decodable = False
        # counted as bad exactly when it cannot be decoded (pings and header-only frames are
        # not decoded at all)
        ignored = cmd == 2 or not body
        assert listener.stats.bad_frames == (0 if decodable or ignored else 1)

    asyncio.run(feed())


async def test_close_from_inside_a_callback(fake: FakeZaloPersonal, logged_in: LoggedIn) -> None:
    zp = await logged_in(BOT)
    listener: Listener | None = None

    async def on_event(event: ListenerEvent) -> None:
        if isinstance(event, UserMessage) and listener is not None:
            await listener.close()

    listener = Listener(zp.session, zp.http, endpoints=endpoints_for(fake), on_event=on_event)
    await listener.wait_connected(5)
    await fake.user(ALICE).says_to(BOT, "stop")
    async with asyncio.timeout(3):
        final = await listener.wait_closed()
    assert final.reason is CloseReason.MANUAL
