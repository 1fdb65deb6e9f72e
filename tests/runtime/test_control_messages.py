"""``POST /control/messages/{channel}/{account}`` on the gateway's real HTTP server: the auth,
loopback and proxy rules of the control endpoint, 400 bodies, 404/409/502, the receipt, the
record in ``pipeline_deliveries``; and real sends through a running gateway: zalouser text
and a file completed by the listener's ``file_done`` (FakeZaloPersonal), a Bot API text
(FakeZaloBotApi)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.config import parse_config
from zalogate.core.channel import ChannelAccount
from zalogate.core.errors import DeliveryError
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.personal import Credentials
from zalogate.runtime.control import (
    CONTROL_PREFIX,
    ControlError,
    MessageRequest,
    message_path,
    send_message,
)
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.plugins import load_plugin
from zalogate.testing import FakeZaloBotApi, FakeZaloPersonal

from .test_account_control import FatalError, ScriptedChannel, is_running, make_gateway, until
from .test_control_http import bearer, token_of

SEND_A = message_path("fake", "a")


class SendingChannel(ScriptedChannel):
    """A scripted channel that records sends and answers what ``answers`` holds next."""

    def __init__(self, account_ids: Sequence[str], scripts: dict[str, list[Any]]) -> None:
        super().__init__(account_ids, scripts)
        self.sent: list[tuple[str, str, ReplyPayload]] = []
        self.link_sends: list[tuple[str, str, str, str]] = []
        self.answers: list[DeliveryReceipt | Exception] = []

    def _answer(self, default: tuple[str, ...]) -> DeliveryReceipt:
        answer = self.answers.pop(0) if self.answers else DeliveryReceipt(message_ids=default)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent.append((account.account_id, target, reply))
        return self._answer((f"m{len(self.sent)}",))

    @property
    def links(self) -> SendingChannel:
        return self

    async def send_link(
        self, account: ChannelAccount, target: str, url: str, caption: str = ""
    ) -> DeliveryReceipt:
        self.link_sends.append((account.account_id, target, url, caption))
        return self._answer(("link1",))


async def deliveries(gateway: Gateway) -> list[dict[str, Any]]:
    assert gateway.store is not None
    rows = await gateway.store.fetchall(
        "SELECT channel, account_id, message_id, seq, target, status, message_ids, error"
        " FROM pipeline_deliveries ORDER BY created_at_ms"
    )
    return [dict(row) for row in rows]


@pytest.mark.timeout(20)
async def test_a_text_send_answers_the_receipt_and_is_recorded(tmp_path: Path) -> None:
    channel = SendingChannel(["a", "b"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        assert next(r for r in gateway.status() if r.account == "a").last_outbound_at is None
        async with httpx2.AsyncClient(base_url=gateway.url, headers=bearer(token_of(gateway))) as c:
            response = await c.post(SEND_A, json={"target": "u1", "text": "xin chào", "media": []})
        assert response.status_code == 200
        assert response.json() == {
            "ok": True,
            "channel": "fake",
            "accountId": "a",
            "target": "u1",
            "messageIds": ["m1"],
        }
        [(account, target, reply)] = channel.sent
        assert (account, target, reply.text, reply.media_urls) == ("a", "u1", "xin chào", ())
        record = next(r for r in gateway.status() if r.account == "a")
        assert record.last_outbound_at is not None
        [row] = await deliveries(gateway)
        assert row["message_id"].startswith("control:")
        assert (row["channel"], row["account_id"], row["seq"], row["target"]) == (
            "fake",
            "a",
            0,
            "u1",
        )
        assert (row["status"], json.loads(row["message_ids"]), row["error"]) == (
            "sent",
            ["m1"],
            None,
        )
        assert channel.runs["a"] == 1  # the send did not restart anything


@pytest.mark.timeout(20)
async def test_links_media_and_reply_to_go_through_like_the_cli(tmp_path: Path) -> None:
    photo = tmp_path / "cat.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")
    channel = SendingChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        link = MessageRequest("u1", "xem", link="https://zalo.me")
        answer = await send_message(gateway.url, token, "fake", "a", link)
        assert answer["messageIds"] == ["link1"]
        assert channel.link_sends == [("a", "u1", "https://zalo.me", "xem")]
        with_media = MessageRequest("u2", "ảnh", media=(str(photo),), link="https://x.vn")
        answer = await send_message(gateway.url, token, "fake", "a", with_media)
        assert answer["target"] == "u2"
        quoted = MessageRequest("u3", "ok", reply_to="q9")
        await send_message(gateway.url, token, "fake", "a", quoted)
    [(_, _, media_reply), (_, _, quoted_reply)] = channel.sent
    assert (media_reply.text, media_reply.media_urls) == ("ảnh\nhttps://x.vn", (str(photo),))
    assert quoted_reply.reply_to_id == "q9"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not valid JSON"),
        (b"", "the body must be a JSON object"),
        (b"[1]", "the body must be a JSON object"),
        (json.dumps({"text": "x"}).encode(), "target: a non-empty string is required"),
        (json.dumps({"target": " ", "text": "x"}).encode(), "target: a non-empty string"),
        (json.dumps({"target": "u1", "text": 5}).encode(), "text: must be a string"),
        (json.dumps({"target": "u1", "media": "a.png"}).encode(), "media: must be a list"),
        (json.dumps({"target": "u1", "media": [""]}).encode(), "media[0]: empty"),
        (json.dumps({"target": "u1", "media": ["a.pdf"]}).encode(), "must be absolute"),
        (json.dumps({"target": "u1", "media": ["/no/such.pdf"]}).encode(), "no such file"),
        (json.dumps({"target": "u1", "link": ""}).encode(), "link: must be a non-empty string"),
        (json.dumps({"target": "u1", "text": " "}).encode(), "nothing to send"),
        (json.dumps({"target": "u1", "text": "x", "to": 1}).encode(), "unknown field(s): to"),
    ],
)
async def test_bad_bodies_are_400_and_send_nothing(
    tmp_path: Path, body: bytes, message: str
) -> None:
    channel = SendingChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        headers = {**bearer(token_of(gateway)), "Content-Type": "application/json"}
        async with httpx2.AsyncClient(base_url=gateway.url, headers=headers) as client:
            response = await client.post(SEND_A, content=body)
        assert response.status_code == 400
        answer = response.json()
        assert answer["ok"] is False
        assert message in answer["error"]
        assert channel.sent == []
        assert await deliveries(gateway) == []


@pytest.mark.timeout(20)
async def test_auth_loopback_and_proxy_rules_are_the_account_routes(tmp_path: Path) -> None:
    channel = SendingChannel(["a"], {})
    body = {"target": "u1", "text": "x"}
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            for headers in ({}, bearer("not-the-token")):
                response = await client.post(SEND_A, json=body, headers=headers)
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
            response = await client.get(SEND_A, headers=bearer(token))
            assert (response.status_code, response.headers["allow"]) == (405, "POST")
            for path in (f"{CONTROL_PREFIX}/messages/fake", f"{SEND_A}/more"):
                assert (
                    await client.post(path, json=body, headers=bearer(token))
                ).status_code == 404
        remote = httpx2.ASGITransport(app=gateway.http.app, client=("203.0.113.7", 40000))
        async with httpx2.AsyncClient(transport=remote, base_url="http://gw") as client:
            response = await client.post(SEND_A, json=body, headers=bearer(token))
            assert response.status_code == 403
        local = httpx2.ASGITransport(app=gateway.http.app, client=("127.0.0.1", 40000))
        async with httpx2.AsyncClient(transport=local, base_url="http://gw") as client:
            proxied = {**bearer(token), "Forwarded": "for=198.51.100.1"}
            response = await client.post(SEND_A, json=body, headers=proxied)
            assert response.status_code == 403
            assert "proxy" in response.json()["error"]
        assert channel.sent == []
        with pytest.raises(ControlError) as refused:
            await send_message(gateway.url, "wrong", "fake", "a", MessageRequest("u1", "x"))
        assert refused.value.status_code == 401
        assert "refused the control token" in str(refused.value)


@pytest.mark.timeout(20)
async def test_unknown_accounts_are_404_and_accounts_not_running_409(tmp_path: Path) -> None:
    channel = SendingChannel(["a", "down"], {"down": [FatalError]})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        await until(lambda: any(r.state.value == "failed" for r in gateway.status()))
        token = token_of(gateway)
        text = MessageRequest("u1", "x")
        details = []
        for channel_id, account in (("fake", "nobody"), ("fake", "off"), ("zalo", "a")):
            with pytest.raises(ControlError) as unknown:
                await send_message(gateway.url, token, channel_id, account, text)
            assert unknown.value.status_code == 404, (channel_id, account)
            details.append(unknown.value.detail)
        assert "no fake account 'nobody'" in details[0]
        assert "runs no channel 'zalo'" in details[2]
        with pytest.raises(ControlError) as down:
            await send_message(gateway.url, token, "fake", "down", text)
        assert down.value.status_code == 409
        assert "fake/down account is not running (state failed)" in down.value.detail
        assert "scripted failure" in down.value.detail
        await gateway.stop_account("fake", "a")
        with pytest.raises(ControlError) as stopped:
            await send_message(gateway.url, token, "fake", "a", text)
        assert stopped.value.status_code == 409
        assert "(state stopped)" in stopped.value.detail
    assert channel.sent == []


@pytest.mark.timeout(20)
async def test_refused_sends_are_502_with_the_ids_that_went_out(tmp_path: Path) -> None:
    channel = SendingChannel(["a"], {})
    channel.answers = [
        DeliveryError("Bad request: The chat_id is invalid\nmore", retryable=False),
        DeliveryReceipt(message_ids=("p1", "p2"), partial=True, error="HTTP 500 on chunk 3"),
        DeliveryError("upload failed", retryable=True, partial_ids=("p3",)),
        DeliveryReceipt(message_ids=()),
    ]
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        failures: list[ControlError] = []
        for _ in range(4):
            with pytest.raises(ControlError) as failed:
                await send_message(gateway.url, token, "fake", "a", MessageRequest("u1", "x"))
            failures.append(failed.value)
        rows = await deliveries(gateway)
    assert [f.status_code for f in failures] == [502] * 4
    assert [(f.detail, f.message_ids) for f in failures] == [
        ("Bad request: The chat_id is invalid", ()),
        ("HTTP 500 on chunk 3", ("p1", "p2")),
        ("upload failed", ("p3",)),
        ("Zalo returned no message id", ()),
    ]
    assert [(r["status"], json.loads(r["message_ids"])) for r in rows] == [
        ("failed", []),
        ("partial", ["p1", "p2"]),
        ("partial", ["p3"]),
        ("failed", []),
    ]
    assert all(r["error"] for r in rows)


# -- real channels in a running gateway ---------------------------------------------------------

BOT, ALICE = "5100000000000000001", "5200000000000000002"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
HOUR = BackoffConfig(min_delay=3600.0, max_delay=3600.0, jitter=0.0)


@pytest.fixture
def personal() -> Iterator[FakeZaloPersonal]:
    fake = FakeZaloPersonal(long_poll_s=0.2)
    fake.start_in_thread()
    fake.run(
        lambda: (
            fake.add_account(BOT, "Trợ lý Bot", friends=(ALICE,)),
            fake.add_account(ALICE, "A"),
        )
    )
    yield fake
    fake.stop_thread()


def zalouser_gateway(fake: FakeZaloPersonal, state: Path) -> Gateway:
    jar = fake.run(lambda: fake.credentials(BOT, user_agent=UA, domain="127.0.0.1"))
    CredentialStore(state).save("default", Credentials.from_json(jar), uid=BOT)
    section = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
    }
    config = parse_config({"channels": {"zalouser": section}}, env={})
    return Gateway(
        config,
        state_dir=state,
        channels=[load_plugin("zalouser")],
        agent=EchoAgent(),
        http_port=0,
        backoff=HOUR,
        unauthorized_backoff=HOUR,
        startup_grace=0.05,
        configure_logs=False,
        shutdown_timeout=5.0,
    )


@pytest.mark.timeout(60)
async def test_zalouser_text_and_file_through_the_running_gateway(
    personal: FakeZaloPersonal, tmp_path: Path
) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 quarterly numbers\n")
    async with zalouser_gateway(personal, tmp_path / "state") as gateway:
        await until(is_running(gateway, "default"))
        await until(lambda: personal.run(lambda: personal.listener_count(BOT)) == 1)
        token = token_of(gateway)
        text = await send_message(
            gateway.url, token, "zalouser", "default", MessageRequest(ALICE, "chào **Alice**")
        )
        sent = await send_message(
            gateway.url,
            token,
            "zalouser",
            "default",
            MessageRequest(ALICE, "", media=(str(report),)),
        )
        assert personal.run(lambda: personal.listener_count(BOT)) == 1  # no second listener
        rows = await deliveries(gateway)
    records = personal.run(lambda: [r for r in personal.sent if r.kind in ("text", "file")])
    assert [(r.kind, r.sender, r.thread_id, r.text) for r in records] == [
        ("text", BOT, ALICE, "chào Alice"),
        ("file", BOT, ALICE, "report.pdf"),
    ]
    assert text["messageIds"] == [records[0].msg_id]
    assert sent["messageIds"] == [records[1].msg_id]
    assert [(r["channel"], r["status"]) for r in rows] == [("zalouser", "sent")] * 2


@pytest.mark.timeout(30)
async def test_a_bot_api_text_through_the_running_gateway(tmp_path: Path) -> None:
    async with FakeZaloBotApi(name="shop.bot") as fake:
        section = {"botToken": fake.token, "apiBaseUrl": fake.base_url}
        gateway = Gateway(
            parse_config({"channels": {"zalo": section}}, env={}),
            state_dir=tmp_path / "state",
            channels=[load_plugin("zalo")],
            agent=EchoAgent(),
            http_port=0,
            startup_grace=0.05,
            configure_logs=False,
            shutdown_timeout=3.0,
        )
        async with gateway:
            await until(is_running(gateway, "default"))
            token = token_of(gateway)
            answer = await send_message(
                gateway.url, token, "zalo", "default", MessageRequest("u42", "xin chào")
            )
            fake.error_next("sendMessage", 400, "Bad request: The chat_id is invalid")
            with pytest.raises(ControlError) as refused:
                await send_message(
                    gateway.url, token, "zalo", "default", MessageRequest("u42", "lần nữa")
                )
        [sent] = fake.sent
    assert (sent.method, sent.chat_id, sent.text) == ("sendMessage", "u42", "xin chào")
    assert answer == {
        "ok": True,
        "channel": "zalo",
        "accountId": "default",
        "target": "u42",
        "messageIds": [sent.message_id],
    }
    assert refused.value.status_code == 502
    assert "The chat_id is invalid" in refused.value.detail
    assert fake.token not in str(refused.value)
