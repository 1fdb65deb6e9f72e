"""Webhook mode on the gateway's real HTTP server: the order of checks, durable admission,
shared paths, start-up and shutdown, hosted reply media."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.channels.zalo.accounts import resolve_zalo_accounts
from zalogate.channels.zalo.errors import ZaloChannelError, ZaloConfigError
from zalogate.channels.zalo.media_host import HostedMedia
from zalogate.channels.zalo.webhook import FixedWindowLimiter, WebhookOptions
from zalogate.config import ConfigError, ZalogateConfig
from zalogate.core.channel import Admission
from zalogate.core.model import InboundMessage, ReplyPayload
from zalogate.testing.fake_botapi import FakeZaloBotApi, make_png

from .conftest import Harness, HarnessFactory, fast_options, zalo_config

URL = "https://example.com/hooks/zalo"
PATH = "/hooks/zalo"
SECRET = "s3cret-value-1"


def webhook_config(fake: FakeZaloBotApi, **settings: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"webhookUrl": URL, "webhookSecret": SECRET, "dmPolicy": "open"}
    values["allowFrom"] = ["*"]
    values.update(settings)
    return zalo_config(fake, **values)


def update(message_id: str = "m1", text: str = "hello", sender: str = "u1") -> dict[str, Any]:
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": sender, "display_name": "User One"},
            "chat": {"id": f"chat-{sender}", "chat_type": "PRIVATE"},
            "message_id": message_id,
            "date": 1774080000000,
            "text": text,
        },
    }


@pytest.fixture
async def client() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=5.0, trust_env=False) as http:
        yield http


async def started(harness: Harness, fake: FakeZaloBotApi, account: str = "default") -> None:
    harness.start(account)
    count = sum(1 for c in fake.calls if c.method == "setWebhook") + 1
    await fake.wait_for_calls("setWebhook", count)
    async with asyncio.timeout(5):
        while PATH not in (harness.http.mounted() if harness.http else {}):
            await asyncio.sleep(0.005)


async def post(
    client: httpx2.AsyncClient,
    harness: Harness,
    body: Any,
    *,
    secret: str | None = SECRET,
    content_type: str = "application/json",
    path: str = PATH,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    sent = dict(headers or {})
    if secret is not None:
        sent["X-Bot-Api-Secret-Token"] = secret
    sent["Content-Type"] = content_type
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(harness.url + path, content=content, headers=sent)


@pytest.fixture
async def hook(fake: FakeZaloBotApi, make_harness: HarnessFactory) -> Harness:
    harness = await make_harness(webhook_config(fake), http=True)
    await started(harness, fake)
    return harness


# ------------------------------------------------------------------ order of checks


async def test_get_is_405_with_allow_post(hook: Harness, client: httpx2.AsyncClient) -> None:
    response = await client.get(hook.url + PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_a_non_ascii_secret_is_compared_byte_for_byte(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, client: httpx2.AsyncClient
) -> None:
    harness = await make_harness(webhook_config(fake, webhookSecret="bí-mật-123"), http=True)
    await started(harness, fake)
    raw = "bí-mật-123".encode()
    response = await client.post(
        harness.url + PATH,
        content=json.dumps(update()).encode(),
        headers=[(b"X-Bot-Api-Secret-Token", raw), (b"Content-Type", b"application/json")],
    )
    assert response.status_code == 200


async def test_a_path_below_the_hook_is_404(hook: Harness, client: httpx2.AsyncClient) -> None:
    response = await post(client, hook, update(), path=PATH + "/other")
    assert response.status_code == 404


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_a_wrong_secret_is_401_before_the_content_type(
    hook: Harness, client: httpx2.AsyncClient, content_type: str
) -> None:
    for secret in ("wrong-secret-9", None):
        response = await post(client, hook, update(), secret=secret, content_type=content_type)
        assert (response.status_code, response.text) == (401, "unauthorized")
    assert hook.inbox.counters.admitted == 0


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/json; charset=utf-8", 200),
        ("application/vnd.x+json; charset=utf-8", 200),
    ],
)
async def test_content_types(
    hook: Harness, client: httpx2.AsyncClient, content_type: str, status: int
) -> None:
    response = await post(client, hook, update(), content_type=content_type)
    assert response.status_code == status


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"{not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b'{"event_name": "x"}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
    ids=["null", "invalid", "empty", "array", "string", "no-message", "not-utf8", "deep"],
)
async def test_bad_bodies_are_400(hook: Harness, client: httpx2.AsyncClient, body: bytes) -> None:
    response = await post(client, hook, body)
    assert (response.status_code, response.text) == (400, "Bad Request")


@pytest.mark.parametrize("missing", ["message_id", "chat"])
async def test_a_message_without_its_ids_is_400(
    hook: Harness, client: httpx2.AsyncClient, missing: str
) -> None:
    body = update()
    del body["message"][missing]
    response = await post(client, hook, body)
    assert response.status_code == 400


async def test_a_body_over_1_mib_is_413(hook: Harness, client: httpx2.AsyncClient) -> None:
    body = update(text="x" * (1024 * 1024))
    response = await post(client, hook, body)
    assert response.status_code == 413

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(17):
            yield b" " * 65536

    response = await client.post(
        hook.url + PATH,
        content=stream(),
        headers={"X-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_a_slow_body_is_408(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, client: httpx2.AsyncClient
) -> None:
    options = fast_options(webhook=WebhookOptions(body_timeout=0.2))
    harness = await make_harness(webhook_config(fake), http=True, options=options)
    await started(harness, fake)
    assert harness.http is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.http.port)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(head.encode() + b'{"event_name":')  # ... and the rest never comes
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"408"


async def test_an_envelope_around_the_update_is_unwrapped(
    hook: Harness, fake: FakeZaloBotApi, client: httpx2.AsyncClient
) -> None:
    response = await post(client, hook, {"ok": True, "result": update(text="wrapped")})
    assert (response.status_code, response.text) == (200, "ok")
    [reply] = await fake.wait_for_sent(1)
    assert (reply.chat_id, reply.text) == ("chat-u1", "wrapped")


# ------------------------------------------------------------------ admission and dedupe


async def test_a_redelivered_update_is_answered_once(
    hook: Harness, fake: FakeZaloBotApi, client: httpx2.AsyncClient
) -> None:
    first = await post(client, hook, update("m-dup", "hello"))
    second = await post(client, hook, update("m-dup", "hello"))
    assert (first.status_code, second.status_code) == (200, 200)
    await fake.wait_for_sent(1)
    await hook.settle()
    later = await post(client, hook, update("m-dup", "different text"))
    assert later.status_code == 200
    await hook.settle()
    assert [(r.chat_id, r.text) for r in fake.sent] == [("chat-u1", "hello")]
    assert hook.inbox.counters.duplicates == 2


async def test_200_comes_only_after_the_durable_admit(
    hook: Harness, client: httpx2.AsyncClient
) -> None:
    response = await post(client, hook, update("m-durable"))
    assert response.status_code == 200
    rows = await hook.store.fetchall(
        "SELECT message_id FROM inbox_entries WHERE channel = 'zalo'", ()
    )
    assert [row["message_id"] for row in rows] == ["m-durable"]


async def test_a_failing_journal_gives_500_after_3_attempts_and_no_dispatch(
    hook: Harness,
    fake: FakeZaloBotApi,
    client: httpx2.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = 0

    async def broken(message: InboundMessage) -> Admission:
        nonlocal attempts
        attempts += 1
        raise OSError("disk full")

    hook.channel.context.inbox = type("Broken", (), {"admit": staticmethod(broken)})()
    response = await post(client, hook, update("m-lost"))
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert attempts == 3
    assert "Zalo webhook admission failed" in caplog.text
    await asyncio.sleep(0.05)
    assert fake.sent == []


async def test_stickers_and_unsupported_events_are_acknowledged_and_admitted(
    hook: Harness,
    client: httpx2.AsyncClient,
) -> None:
    """OpenClaw issue 47550: both reach the agent (described) instead of silence."""
    sticker = update("m-st")
    sticker["event_name"] = "message.sticker.received"
    sticker["message"]["sticker"] = "bfe458bf64fa8da4d4eb"
    unsupported = update("m-un")
    unsupported["event_name"] = "message.unsupported.received"
    for body in (sticker, unsupported):
        assert (await post(client, hook, body)).status_code == 200
    assert hook.inbox.counters.admitted == 2


async def test_fake_zalo_delivers_to_the_gateway_end_to_end(
    hook: Harness, fake: FakeZaloBotApi
) -> None:
    fake.deliver_webhooks_to = hook.url
    fake.user("u7", name="Bảy").says("qua webhook")
    [reply] = await fake.wait_for_sent(1)
    assert (reply.chat_id, reply.text) == ("u7", "qua webhook")
    assert fake.webhook_deliveries == 1


# ------------------------------------------------------------------ shared paths


async def two_accounts(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, second_secret: str
) -> Harness:
    other = fake.add_bot(name="bot.other")
    config = webhook_config(
        fake,
        accounts={
            "a": {"botToken": fake.token},
            "b": {"botToken": other.token, "webhookSecret": second_secret},
        },
    )
    del config["channels"]["zalo"]["botToken"]
    # zalogate.config refuses two accounts on one webhook path; the endpoint still handles
    # it safely (the reference's scenarios 16-17), so the model is built without that rule.
    harness = await make_harness(ZalogateConfig.model_validate(config), http=True)
    await started(harness, fake, "a")
    await started(harness, fake, "b")
    return harness


async def test_two_accounts_with_the_same_secret_on_one_path_are_ambiguous(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, client: httpx2.AsyncClient
) -> None:
    harness = await two_accounts(fake, make_harness, SECRET)
    response = await post(client, harness, update())
    assert (response.status_code, response.text) == (401, "ambiguous webhook target")
    assert harness.inbox.counters.admitted == 0


async def test_two_accounts_with_different_secrets_each_admit_once(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, client: httpx2.AsyncClient
) -> None:
    harness = await two_accounts(fake, make_harness, "another-secret-2")
    for secret in (SECRET, "another-secret-2", SECRET):
        assert (await post(client, harness, update("m-shared"), secret=secret)).status_code == 200
    await harness.settle()
    rows = await harness.store.fetchall(
        "SELECT account_id FROM inbox_entries WHERE message_id = 'm-shared' ORDER BY account_id"
    )
    assert [row["account_id"] for row in rows] == ["a", "b"]
    assert sorted(r.bot_id for r in fake.sent) == sorted(b.id for b in fake.bots)


# ------------------------------------------------------------------ rate limiting


async def test_a_flood_is_rate_limited_per_path_and_ip_before_auth(
    hook: Harness, client: httpx2.AsyncClient
) -> None:
    statuses = []
    for i in range(130):
        secret = SECRET if i % 10 == 0 else "wrong-secret-9"
        statuses.append(
            (
                await post(client, hook, update(f"f{i}"), secret=secret, path=f"{PATH}?nonce={i}")
            ).status_code
        )
    assert 429 in statuses
    assert statuses.index(429) == 120
    endpoint = hook.channel._webhooks.endpoint(PATH) if hook.channel._webhooks else None
    assert endpoint is not None
    assert len(endpoint.limiter) == 1


async def test_a_flood_from_one_forwarded_ip_does_not_block_another(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, client: httpx2.AsyncClient
) -> None:
    options = fast_options(
        webhook=WebhookOptions(trusted_proxies=("127.0.0.1",), rate_limit=5, admit_delays=(0.0,))
    )
    harness = await make_harness(webhook_config(fake), http=True, options=options)
    await started(harness, fake)
    flood = {"X-Forwarded-For": "203.0.113.9"}
    for i in range(8):
        await post(client, harness, update(f"x{i}"), secret="wrong-secret-9", headers=flood)
    blocked = await post(client, harness, update("x9"), headers=flood)
    assert blocked.status_code == 429
    other = await post(client, harness, update("y1"), headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status_code == 200


def test_the_limiter_forgets_the_oldest_keys() -> None:
    now = [0.0]
    limiter = FixedWindowLimiter(2, 60.0, max_keys=3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [True, True, False]
    for key in "bcd":
        limiter.hit(key)
    assert len(limiter) == 3
    now[0] = 61.0
    assert limiter.hit("b") is True  # a new window


# ------------------------------------------------------------------ start-up and shutdown


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"webhookUrl": "http://example.com/hook"}, "webhookUrl"),
        ({"webhookSecret": "7-chars"}, "webhookSecret"),
    ],
)
def test_invalid_webhook_settings_are_config_errors_naming_the_key(
    fake: FakeZaloBotApi, settings: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_zalo_accounts(webhook_config(fake, **settings), env={})
    assert key in str(caught.value)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [
        ("http://example.com/hook", SECRET, "Zalo webhook URL must use HTTPS"),
        (URL, "7-chars", "Zalo webhook secret must be 8-256 characters"),
        (URL, "", "Zalo webhookUrl and webhookSecret are required for webhook mode"),
    ],
)
def test_the_channel_checks_webhook_settings_itself(url: str, secret: str, message: str) -> None:
    [account] = resolve_zalo_accounts(zalo_config(None, botToken="1:x"), env={})
    forged = type(account)(
        account_id="default",
        enabled=True,
        is_default=True,
        name=None,
        settings=type(account.settings)({"webhookUrl": url, "webhookSecret": secret}),
        token=account.token,
    )
    with pytest.raises(ZaloConfigError, match=re.escape(message)) as caught:
        forged.require_webhook()
    assert caught.value.fatal is True


async def test_a_taken_route_fails_start_up_before_set_webhook(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(webhook_config(fake), http=True)
    assert harness.http is not None

    async def other_app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    harness.http.mount(PATH, other_app)
    with pytest.raises(ZaloChannelError, match="Failed to register HTTP route: /hooks/zalo"):
        await harness.start()
    assert not [c for c in fake.calls if c.method == "setWebhook"]
    assert PATH + "/media" not in harness.http.mounted()


async def test_a_failing_set_webhook_removes_the_routes(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.error_next("setWebhook", 400, "Bad request: The url must be an HTTPS URL")
    harness = await make_harness(webhook_config(fake), http=True)
    with pytest.raises(Exception, match="The url must be an HTTPS URL"):
        await harness.start()
    assert harness.http is not None
    assert harness.http.mounted() == {}
    assert not [c for c in fake.calls if c.method == "deleteWebhook"]


async def test_shutdown_deletes_the_webhook_before_the_routes_go(
    hook: Harness, fake: FakeZaloBotApi
) -> None:
    assert hook.http is not None
    mounted_at_delete: list[bool] = []
    original = fake._delete_webhook

    async def spy(bot: Any, payload: Any, request: Any) -> Any:
        mounted_at_delete.append(PATH in hook.http.mounted())  # type: ignore[union-attr]
        return await original(bot, payload, request)

    fake._handlers["deleteWebhook"] = spy
    await hook.stop_monitors()
    assert mounted_at_delete == [True]
    assert hook.http.mounted() == {}
    assert fake.bot.webhook_url == ""


async def test_a_hanging_delete_webhook_is_capped(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await make_harness(
        webhook_config(fake), http=True, options=fast_options(delete_webhook_timeout=0.2)
    )
    await started(harness, fake)
    fake.timeout_next("deleteWebhook")
    await harness.stop_monitors()
    assert "Zalo webhook delete failed: timed out after 200ms" in caplog.text
    assert harness.http is not None
    assert harness.http.mounted() == {}


# ------------------------------------------------------------------ hosted reply media

HOSTED = re.compile(r"^https://example\.com/hooks/zalo/media/([0-9a-f]{24})\?token=([0-9a-f]{48})$")


async def test_a_local_image_reply_is_hosted_under_the_webhook_path(
    hook: Harness, fake: FakeZaloBotApi, client: httpx2.AsyncClient, tmp_path: Path
) -> None:
    image = tmp_path / "chart.png"
    png = make_png(4, 4)
    image.write_bytes(png)
    receipt = await hook.channel.send(
        hook.account(), "u1", ReplyPayload(text="here", media_urls=(str(image),))
    )
    [photo] = fake.sent
    assert len(receipt.message_ids) == 1
    assert photo.caption == "here"
    match = HOSTED.match(photo.photo or "")
    assert match, photo.photo
    media_id, token = match.groups()
    local = f"{hook.url}{PATH}/media/{media_id}"
    for _ in range(2):  # Zalo clients fetch more than once: repeated GETs work until expiry
        response = await client.get(local, params={"token": token})
        assert response.status_code == 200
        assert response.content == png
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(local, params={"token": "0" * 48})).status_code == 401
    assert (await client.get(f"{hook.url}{PATH}/media/{'0' * 24}")).status_code == 404
    assert (await client.get(f"{hook.url}{PATH}/media/not-an-id")).status_code == 404


async def test_hosted_media_is_sent_even_if_our_own_name_resolves_privately(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, tmp_path: Path
) -> None:
    async def split_horizon(host: str) -> list[str]:
        return ["10.1.1.1"]  # inside this network, example.com is a private address

    harness = await make_harness(
        webhook_config(fake),
        http=True,
        options=fast_options(resolver=split_horizon, allow_loopback_media=False),
    )
    await started(harness, fake)
    image = tmp_path / "own.png"
    image.write_bytes(make_png())
    await harness.channel.send(harness.account(), "u1", ReplyPayload(media_urls=(str(image),)))
    assert HOSTED.match(fake.sent[0].photo or "")
    from zalogate.core.errors import DeliveryError

    with pytest.raises(DeliveryError, match="private or loopback"):  # others' URLs still checked
        await harness.channel.send(
            harness.account(), "u1", ReplyPayload(media_urls=("https://example.com/x.png",))
        )


async def test_a_local_file_that_is_not_an_image_is_not_hosted(
    hook: Harness, fake: FakeZaloBotApi, tmp_path: Path
) -> None:
    secret_file = tmp_path / "notes.png"
    secret_file.write_text("not an image at all")
    from zalogate.core.errors import DeliveryError

    with pytest.raises(DeliveryError, match="not an image"):
        await hook.channel.send(hook.account(), "u1", ReplyPayload(media_urls=(str(secret_file),)))
    assert fake.sent == []


async def test_hosted_media_expires_with_410() -> None:
    now = [0.0]
    host = HostedMedia("https://h.example/media", ttl=120.0, clock=lambda: now[0])
    url = host.add(make_png(), "image/png")
    media_id, token = HOSTED_ANY.search(url).groups()  # type: ignore[union-attr]
    statuses: list[int] = []

    async def get() -> None:
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/media/{media_id}",
            "query_string": f"token={token}".encode(),
        }
        await host(scope, receive, send)
        statuses.append(messages[0]["status"])

    await get()
    now[0] = 121.0
    await get()
    await get()
    assert statuses == [200, 410, 404]


HOSTED_ANY = re.compile(r"/media/([0-9a-f]{24})\?token=([0-9a-f]{48})$")


def test_hosted_media_keeps_at_most_64_entries() -> None:
    host = HostedMedia("https://h.example/media")
    for _ in range(70):
        host.add(b"\x89PNG\r\n\x1a\n", "image/png")
    assert len(host) == 64


async def test_a_root_webhook_path_works_and_hosts_media_at_slash_media(
    fake: FakeZaloBotApi,
    make_harness: HarnessFactory,
    client: httpx2.AsyncClient,
    tmp_path: Path,
) -> None:
    harness = await make_harness(webhook_config(fake, webhookUrl="https://example.com"), http=True)
    harness.start()
    await fake.wait_for_calls("setWebhook")
    assert harness.http is not None
    async with asyncio.timeout(5):
        while "/" not in harness.http.mounted():
            await asyncio.sleep(0.005)
    assert (await client.get(f"{harness.url}/healthz")).status_code == 200
    assert (await post(client, harness, update("m-root"), path="/")).status_code == 200
    await fake.wait_for_sent(1)
    image = tmp_path / "root.png"
    image.write_bytes(make_png())
    await harness.channel.send(harness.account(), "u1", ReplyPayload(media_urls=(str(image),)))
    photo = fake.sent[-1].photo or ""
    assert re.match(r"^https://example\.com/media/[0-9a-f]{24}\?token=[0-9a-f]{48}$", photo)
    local = harness.url + photo.removeprefix("https://example.com")
    assert (await client.get(local)).status_code == 200


def test_root_webhook_path_hosts_media_at_slash_media() -> None:
    from zalogate.channels.zalo.media_host import media_prefix

    assert media_prefix("/") == "/media"
    assert media_prefix("/hooks/zalo") == "/hooks/zalo/media"


async def test_gateway_trusted_proxies_reach_the_webhook_client_ip(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    """``gateway.trustedProxies`` is a config key; the webhook honours it for the rate limit."""
    config = {**webhook_config(fake), "gateway": {"trustedProxies": ["127.0.0.1"]}}
    harness = await make_harness(config, options=fast_options(webhook=None), http=True)
    assert harness.channel._webhooks is not None
    assert harness.channel._webhooks.options.trusted_proxies == ("127.0.0.1",)
