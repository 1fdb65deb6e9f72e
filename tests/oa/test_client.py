"""Scenarios 23-30 at the client: chunk-free sends, quotes, uploads, errors from the body."""

from __future__ import annotations

import pytest

from zalogate.oa import (
    TEXT_LIMIT,
    FileTooLargeError,
    OutsideWindowError,
    RateLimitedError,
    RecipientRefusedError,
    TokenKeeper,
    TooLargeError,
    ZaloOA,
)
from zalogate.oa.errors import api_error
from zalogate.testing import FakeZaloOA

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


async def test_a_refused_quote_is_dropped_once(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    message_id = await client.send_text("42", "hi", quote="not-a-message-of-this-chat")
    assert fake.sent[-1].message_id == message_id
    assert fake.sent[-1].quote is None
    quoted = await client.send_text("42", "re", quote=message_id)
    assert fake.sent[-1].message_id == quoted
    assert fake.sent[-1].quote == message_id


async def test_an_image_is_uploaded_as_multipart_then_sent_as_media(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    attachment = await client.upload("image", "photo.png", PNG)
    upload = next(c for c in fake.calls if c.path == "/v2.0/oa/upload/image")
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="photo.png"' in upload.body
    await client.send_image("42", attachment, caption="look")
    element = fake.sent[-1].attachment["payload"]["elements"][0]  # type: ignore[index]
    assert element == {"media_type": "image", "attachment_id": attachment}
    with pytest.raises(FileTooLargeError):
        await client.upload("image", "big.png", PNG + b"\0" * 1024 * 1024)


async def test_a_pdf_goes_to_upload_file_and_is_sent_by_token(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    token = await client.upload("file", "offer.pdf", b"%PDF-1.4 ...")
    await client.send_file("42", token)
    assert fake.sent[-1].attachment == {"type": "file", "payload": {"token": token}}
    with pytest.raises(FileTooLargeError):
        await client.upload("file", "huge.pdf", b"\0" * (6 * 1024 * 1024))
    assert not [c for c in fake.calls if c.body.endswith(b"\0" * 64) and "upload" in c.path][1:]


async def test_the_fake_refuses_an_oversized_upload_with_210(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    # Past the client's own check (a different limit table would be a bug; the fake is strict).
    with pytest.raises(TooLargeError):
        await client.call(
            "POST",
            "/v2.0/oa/upload/image",
            files={"file": ("a.png", PNG + b"\0" * 2**20, "image/png")},
        )


async def test_outside_seven_days_is_refused_and_not_retryable(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    user = fake.user("42")
    user.last_interaction = fake.clock() - 3 * 86400
    await client.send_text("42", "billed")
    assert fake.sent[-1].billed
    user.last_interaction = fake.clock() - 8 * 86400
    with pytest.raises(OutsideWindowError) as caught:
        await client.send_text("42", "too late")
    assert caught.value.error == -230
    assert not caught.value.retryable


async def test_rate_limits_are_retryable_without_a_refresh(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    fake.rate_limit = 1
    await client.send_text("42", "one")
    with pytest.raises(RateLimitedError) as caught:
        await client.send_text("42", "two")
    assert caught.value.error == -32
    assert caught.value.retryable
    assert fake.refresh_calls == 0
    fake.rate_limit = None
    fake.fail_next("/v3.0/oa/message/cs", 429, "Too Many Requests", status=429)
    with pytest.raises(RateLimitedError):
        await client.send_text("42", "three")
    assert fake.refresh_calls == 0


async def test_http_200_with_an_error_is_a_failure(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    fake.fail_next("/v3.0/oa/message/cs", -213, "User has not followed OA")
    with pytest.raises(RecipientRefusedError, match="not followed"):
        await client.send_text("42", "hi")


async def test_a_sent_id_serves_for_a_reaction_to_the_users_message(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42")
    event = fake.user_message("42", "user_send_text", {"text": "hello"})
    await client.react("42", event["message"]["msg_id"], "/-heart")
    assert fake.reactions == [("42", event["message"]["msg_id"], "/-heart")]
    assert await client.send_text("42", "x" * TEXT_LIMIT)


async def test_look_ups_read_profile_followers_and_recent_chats(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _ = oa
    fake.user("42", "Khoa")
    fake.user("43", "Lan", follower=False)
    fake.user_message("42", "user_send_text", {"text": "Chào shop"})
    assert (await client.user_detail("42"))["display_name"] == "Khoa"
    page = await client.followers()
    assert page["total"] == 1
    assert page["users"] == [{"user_id": "42"}]
    rows = await client.recent_chats()
    assert rows[0]["message"] == "Chào shop"
    assert rows[0]["from_id"] == "42"
    with pytest.raises(TooLargeError):
        await client.call("GET", "/v2.0/oa/listrecentchat", data={"offset": 0, "count": 11})
    assert (await client.get_oa())["oa_id"] == fake.oa_id


def test_codes_map_to_the_tree() -> None:
    assert isinstance(api_error("x", -14014, "Invalid refresh token", status_code=200), Exception)
    assert api_error("x", -227, "", status_code=200).__class__ is RecipientRefusedError
    assert api_error("x", 503, "", status_code=503).retryable
