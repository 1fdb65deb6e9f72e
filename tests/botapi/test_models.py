"""Wire models against the captured payloads of the reference (zalo-bot-api.md §1.2-1.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zalogate.botapi import (
    BotInfo,
    EventName,
    SentMessage,
    Update,
    WebhookInfo,
    to_epoch_ms,
)

TEXT_UPDATE = """
{
  "event_name": "message.text.received",
  "message": {
    "from": {"id": "user-1", "name": "User One"},
    "chat": {"id": "dm-chat-1", "chat_type": "PRIVATE"},
    "message_id": "msg-1",
    "date": 1774080000,
    "text": "hello from zalo"
  }
}
"""

IMAGE_UPDATE = """
{
  "event_name": "message.image.received",
  "message": {
    "date": 1774086023728,
    "chat": {"chat_type": "PRIVATE", "id": "chat-123"},
    "caption": "",
    "message_id": "msg-123",
    "message_type": "CHAT_PHOTO",
    "from": {"id": "user-123", "is_bot": false, "display_name": "Test User"},
    "photo_url": "https://example.com/test-image.jpg"
  }
}
"""

DOC_GET_UPDATES_RESULT = """
{"message": {"chat": {"id": "e4ea2cd5189df1c3a88c", "chat_type": "PRIVATE"},
  "text": "Xin chào", "message_id": "16f6366b3f02645a3d15", "date": 1766619597466,
  "from": {"id": "e4ea2cd5189df1c3a88c", "first_name": "Nguyen Van A"}}}
"""

GET_ME = (
    '{"id": "1459232241454765289", "account_name": "bot.VDKyGxQvc", '
    '"account_type": "BASIC", "can_join_groups": false}'
)
SENT = '{"message_id": "82599fa32f56d00e8941", "date": 1749632637199}'
WEBHOOK = '{"url": "https://your-webhookurl.com", "updated_at": 1749538250568}'
DELETED_WEBHOOK = '{"url": "", "updated_at": 1749538250568}'


def _load(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def test_image_update_round_trips_unchanged() -> None:
    raw = _load(IMAGE_UPDATE)
    update = Update.model_validate(raw)
    assert update.to_wire() == raw
    assert update.event is EventName.IMAGE
    assert update.message is not None
    assert update.message.photo_url == "https://example.com/test-image.jpg"
    assert update.message.from_.best_name == "Test User"
    assert update.message.date == 1774086023728


def test_text_update_with_seconds_date_is_normalised_to_milliseconds() -> None:
    raw = _load(TEXT_UPDATE)
    update = Update.model_validate(raw)
    assert update.message is not None
    assert update.message.date == 1774080000 * 1000
    assert update.message.from_.best_name == "User One"
    expected = json.loads(TEXT_UPDATE)
    expected["message"]["date"] = 1774080000 * 1000
    assert update.to_wire() == expected
    assert Update.model_validate(update.to_wire()) == update


def test_doc_sample_without_event_name_is_a_text_event_named_by_first_name() -> None:
    raw = _load(DOC_GET_UPDATES_RESULT)
    update = Update.model_validate(raw)
    assert update.event is EventName.TEXT
    assert update.message is not None
    assert update.message.from_.best_name == "Nguyen Van A"
    assert update.to_wire() == raw


@pytest.mark.parametrize(
    ("model", "text"),
    [
        (BotInfo, GET_ME),
        (SentMessage, SENT),
        (WebhookInfo, WEBHOOK),
        (WebhookInfo, DELETED_WEBHOOK),
    ],
)
def test_result_payloads_round_trip_unchanged(
    model: type[BotInfo | SentMessage | WebhookInfo], text: str
) -> None:
    raw = _load(text)
    assert model.model_validate(raw).to_wire() == raw


def test_numeric_ids_become_strings_without_losing_digits() -> None:
    big = 2**63 + 12345
    update = Update.model_validate(
        {
            "event_name": "message.text.received",
            "message": {
                "message_id": 7,
                "from": {"id": big},
                "chat": {"id": big, "chat_type": "GROUP"},
                "date": 1766619597466,
                "text": "hi",
            },
        }
    )
    assert update.message is not None
    assert update.message.from_.id == str(big)
    assert update.message.chat.id == str(big)
    assert update.message.chat.is_group
    assert update.message.message_id == "7"


def test_unknown_event_is_kept_as_text() -> None:
    update = Update.model_validate({"event_name": "message.voice.received", "extra": 1})
    assert update.event is None
    assert update.message is None
    assert update.to_wire() == {"event_name": "message.voice.received", "extra": 1}


@given(st.integers(min_value=10**9, max_value=10**13))
def test_plausible_dates_normalise_to_milliseconds_and_stay_there(value: int) -> None:
    once = to_epoch_ms(value)
    assert once >= 10**12
    assert to_epoch_ms(once) == once
