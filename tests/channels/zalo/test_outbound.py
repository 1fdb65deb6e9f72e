"""Outbound through the real channel against the fake Bot API: chunks, photos, captions,
targets, retries, partial delivery, typing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from zalogate.channels.zalo.errors import ZaloConfigError
from zalogate.channels.zalo.media_host import sniff_image_type
from zalogate.channels.zalo.outbound import MEDIA_REFUSED_NOTE
from zalogate.core.channel import ChannelContext
from zalogate.core.errors import DeliveryError, FailureKind, is_retryable
from zalogate.core.model import DeliveryReceipt, ReplyKind, ReplyPayload
from zalogate.store import Store
from zalogate.testing.fake_botapi import FakeZaloBotApi, make_png

from .conftest import HarnessFactory, fast_options, zalo_config

PHOTO_A = "https://cdn.example/a.jpg"
PHOTO_B = "https://cdn.example/b.jpg"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_long_text_is_split_into_messages_of_at_most_2000(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    words = " ".join(f"word{i}" for i in range(600))  # about 4,800 characters
    receipt = await harness.channel.send(harness.account(), "u1", ReplyPayload(text=words))
    texts = [r.text or "" for r in fake.sent]
    assert len(texts) >= 2
    assert all(utf16(t) <= 2000 for t in texts)
    assert all(t.startswith("word") and t[-1].isdigit() for t in texts)  # split at spaces
    assert " ".join(texts) == words
    assert receipt == DeliveryReceipt(message_ids=tuple(r.message_id for r in fake.sent))


async def test_3000_chars_with_newlines_split_at_a_newline(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    text = "a" * 1500 + "\n" + "b" * 1499
    await harness.channel.send(harness.account(), "u1", ReplyPayload(text=text))
    assert [r.text for r in fake.sent] == ["a" * 1500, "b" * 1499]


async def test_caption_goes_on_the_first_photo_only_and_no_text_message(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    reply = ReplyPayload(text="cap", media_urls=(PHOTO_A, PHOTO_B))
    receipt = await harness.channel.send(harness.account(), "u1", reply)
    assert [(r.method, r.photo, r.caption) for r in fake.sent] == [
        ("sendPhoto", PHOTO_A, "cap"),
        ("sendPhoto", PHOTO_B, None),
    ]
    assert len(receipt.message_ids) == 2


async def test_caption_overflow_follows_as_text_after_the_photo(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    text = "x" * 1900 + " " + "y" * 600
    await harness.channel.send(
        harness.account(), "u1", ReplyPayload(text=text, media_urls=(PHOTO_A,))
    )
    assert [(r.method, r.caption, r.text) for r in fake.sent] == [
        ("sendPhoto", "x" * 1900, None),
        ("sendMessage", None, "y" * 600),
    ]


@pytest.mark.parametrize(
    ("target", "chat_id"),
    [("zalo:user:123", "123"), ("zl:123", "123"), ("group:g-9", "g-9"), (" 456 ", "456")],
)
async def test_targets_are_normalised_to_chat_ids(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, target: str, chat_id: str
) -> None:
    harness = await make_harness(zalo_config(fake))
    await harness.channel.send(harness.account(), target, ReplyPayload(text="hi"))
    assert [r.chat_id for r in fake.sent] == [chat_id]


@pytest.mark.parametrize("target", ["", "zalo:", "zalouser:123"])
async def test_bad_targets_fail_without_a_call(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, target: str
) -> None:
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError) as caught:
        await harness.channel.send(harness.account(), target, ReplyPayload(text="hi"))
    assert caught.value.retryable is False
    assert fake.sent == []


async def test_blank_media_and_no_text_is_no_photo_url(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError, match="No photo URL provided"):
        await harness.channel.send(harness.account(), "u1", ReplyPayload(media_urls=("   ",)))
    assert fake.calls == []


async def test_sending_without_a_token_says_so(
    tmp_path: Path, store: Store, make_harness: HarnessFactory
) -> None:
    harness = await make_harness({"channels": {"zalo": {"dmPolicy": "pairing"}}})
    with pytest.raises(DeliveryError, match="No Zalo bot token configured") as caught:
        await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    assert not is_retryable(caught.value)


async def test_an_unusable_api_url_is_a_delivery_error_and_a_fatal_monitor_error(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(
        zalo_config(None, botToken="1:x"), options=fast_options(env={"ZALO_API_URL": "ftp://x"})
    )
    with pytest.raises(DeliveryError, match="ZALO_API_URL must use http"):
        await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    with pytest.raises(ZaloConfigError) as caught:
        await harness.start()
    assert caught.value.fatal is True


@pytest.mark.parametrize("fault", ["html429", "502"], ids=["rate-limited", "bad-gateway"])
async def test_transient_failures_are_retried_and_delivered_once(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, fault: str
) -> None:
    if fault == "html429":
        fake.fail_next("sendMessage", 429)
    else:
        fake.fail_next("sendMessage", 502)
    harness = await make_harness(zalo_config(fake))
    receipt = await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    assert [r.text for r in fake.sent] == ["hi"]
    assert receipt.message_ids == (fake.sent[0].message_id,)
    assert sum(1 for c in fake.calls if c.method == "sendMessage") == 2


@pytest.mark.parametrize("fault", ["drop", "drop_after"])
async def test_a_reset_after_the_request_was_written_is_delivery_unknown_and_not_resent(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, fault: str
) -> None:
    if fault == "drop":
        fake.drop_next("sendMessage")  # Zalo never saw it; the client cannot tell
    else:
        fake.drop_after_next("sendMessage")  # Zalo recorded it
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError) as caught:
        await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    assert caught.value.kind is FailureKind.DELIVERY_UNKNOWN
    assert sum(1 for c in fake.calls if c.method == "sendMessage") == 1
    assert len(fake.sent) == (1 if fault == "drop_after" else 0)


async def test_client_errors_are_not_retried(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.error_next("sendMessage", 400, "Bad request: The chat_id must not be empty")
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError, match="chat_id must not be empty") as caught:
        await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    assert caught.value.retryable is False
    assert sum(1 for c in fake.calls if c.method == "sendMessage") == 1


async def test_retries_give_up_after_the_last_attempt_as_retryable(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.fail_next("sendMessage", 503, count=3)
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError) as caught:
        await harness.channel.send(harness.account(), "u1", ReplyPayload(text="hi"))
    assert caught.value.retryable is True
    assert fake.sent == []


async def test_a_failure_after_the_first_chunk_is_a_partial_delivery(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await make_harness(zalo_config(fake))
    text = "\n".join(["a" * 1990, "b" * 1990, "c" * 1990])
    original = fake._send_message
    seen = 0

    async def second_fails(bot, payload, request):  # type: ignore[no-untyped-def]
        nonlocal seen
        seen += 1
        if seen == 2:
            return fake._error(400, "Bad request: refused")
        return await original(bot, payload, request)

    fake._handlers["sendMessage"] = second_fails
    receipt = await harness.channel.send(
        harness.account(), "u1", ReplyPayload(text=text, kind=ReplyKind.FINAL)
    )
    assert receipt.partial is True
    assert receipt.message_ids == (fake.sent[0].message_id,)
    assert "refused" in (receipt.error or "")
    assert [r.text for r in fake.sent] == ["a" * 1990]
    assert caplog.text.count("[default] Zalo final reply failed:") == 1


async def test_a_private_photo_url_is_refused_without_a_call(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    strict = fast_options(allow_loopback_media=False)
    harness = await make_harness(zalo_config(fake), options=strict)
    urls = ("https://intranet.example/a.png", "https://rebind.example/a.png", "ftp://x/y.jpg")
    for url in urls:
        with pytest.raises(DeliveryError) as caught:
            await harness.channel.send(harness.account(), "u1", ReplyPayload(media_urls=(url,)))
        assert caught.value.retryable is False
    assert [c.method for c in fake.calls] == []


async def test_a_local_image_needs_a_webhook_to_be_hosted(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, tmp_path: Path
) -> None:
    image = tmp_path / "reply.png"
    image.write_bytes(make_png())
    harness = await make_harness(zalo_config(fake))
    with pytest.raises(DeliveryError, match="webhook URL"):
        await harness.channel.send(harness.account(), "u1", ReplyPayload(media_urls=(str(image),)))
    assert fake.calls == []


async def test_typing_sends_a_chat_action(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    await harness.channel.typing(harness.account(), "zalo:u1")
    [action] = fake.chat_actions
    assert action.payload == {"chat_id": "u1", "action": "typing"}


async def test_a_channel_for_cli_sends_needs_no_inbox_and_no_routes(
    fake: FakeZaloBotApi, tmp_path: Path, store: Store
) -> None:
    from zalogate.channels.zalo.channel import create_channel
    from zalogate.core.channel import Admission

    class NoInbox:
        async def admit(self, message: object) -> Admission:
            raise AssertionError("a CLI send admits nothing")

    context = ChannelContext(
        config=zalo_config(fake), state_dir=tmp_path, store=store, inbox=NoInbox()
    )
    channel = create_channel(context, fast_options())
    try:
        [account] = channel.accounts()
        receipt = await channel.send(account, "123", ReplyPayload(text="from the CLI"))
        probe = await channel.probe(account)
    finally:
        await channel.aclose()
    assert receipt.message_ids == (fake.sent[0].message_id,)
    assert probe.ok
    assert probe.identity["account_name"] == "bot.fake"


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


async def test_a_refused_media_url_still_delivers_the_text_with_a_note(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, tmp_path: Path
) -> None:
    strict = fast_options(allow_loopback_media=False)
    harness = await make_harness(zalo_config(fake), options=strict)
    not_an_image = tmp_path / "notes.bmp"
    not_an_image.write_text("BM but only text, not a bitmap")
    for url in ("https://intranet.example/a.png", str(not_an_image)):
        reply = ReplyPayload(text="here is the report", media_urls=(url,))
        receipt = await harness.channel.send(harness.account(), "u1", reply)
        assert len(receipt.message_ids) == 2
    assert [r.text for r in fake.sent] == ["here is the report", MEDIA_REFUSED_NOTE] * 2
    assert all(r.photo is None for r in fake.sent)


def test_a_text_file_starting_with_bm_is_not_a_bitmap() -> None:
    assert sniff_image_type(b"BM but only text, not a bitmap at all") is None
    header = b"BM" + (70).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    bitmap = header + (40).to_bytes(4, "little") + bytes(52)
    assert sniff_image_type(bitmap) == "image/bmp"


async def test_the_cached_policy_follows_the_consoles_allowlist_edits(
    fake: FakeZaloBotApi, tmp_path: Path, store: Store
) -> None:
    from zalogate.channels.zalo.channel import create_channel
    from zalogate.core.access_overlay import AccessOverlays, SqliteAccessOverlayStore

    overlays = AccessOverlays(SqliteAccessOverlayStore(store))
    context = ChannelContext(
        config=zalo_config(fake),
        state_dir=tmp_path,
        store=store,
        inbox=None,  # type: ignore[arg-type]
        access_overlay=lambda account_id: overlays.get("zalo", account_id),
    )
    channel = create_channel(context, fast_options())
    try:
        [account] = channel.accounts()
        assert "u7" not in channel.policy(account).allow_from
        await overlays.allow("zalo", account.account_id, "allowFrom", "zl:U7")
        assert "u7" not in channel.policy(account).allow_from  # cached until told
        channel.access_changed(account)
        assert "u7" in channel.policy(account).allow_from
    finally:
        await channel.aclose()
