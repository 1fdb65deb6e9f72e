"""Listener message events -> InboundMessage: ids, text, photos, placeholders, mention facts,
command text, quotes and the cached group-info lookup."""

from __future__ import annotations

from typing import Any

import pytest

from zalogate.channels.zalouser.inbound import (
    GroupFacts,
    GroupInfoCache,
    normalize_message,
)
from zalogate.core.model import ChatType
from zalogate.personal.event_parsing import parse_event
from zalogate.personal.events import GroupMessage, UserMessage

BOT = "1001"


def raw(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "msgId": "7001",
        "cliMsgId": "8001",
        "msgType": "webchat",
        "uidFrom": "2001",
        "idTo": "0",
        "dName": "Alice",
        "ts": "1700000000000",
        "content": "hello",
        "st": 3,
        "at": 5,
        "cmd": 501,
    }
    base.update(fields)
    return base


def dm(**fields: Any) -> UserMessage:
    (event,) = parse_event(501, 0, {"data": {"msgs": [raw(**fields)]}}, own_uid=BOT)
    assert isinstance(event, UserMessage)
    return event


def grp(**fields: Any) -> GroupMessage:
    fields.setdefault("idTo", "9001")
    fields.setdefault("cmd", 521)
    (event,) = parse_event(521, 0, {"data": {"groupMsgs": [raw(**fields)]}}, own_uid=BOT)
    assert isinstance(event, GroupMessage)
    return event


async def test_dm_text_becomes_a_direct_message() -> None:
    result = await normalize_message(dm(), "default", BOT)
    message = result.message
    assert message is not None
    assert (message.channel, message.account_id, message.chat_type) == (
        "zalouser",
        "default",
        ChatType.DIRECT,
    )
    assert (message.chat_id, message.sender_id, message.sender_name) == ("2001", "2001", "Alice")
    assert (message.message_id, message.text, message.timestamp_ms) == (
        "7001",
        "hello",
        1_700_000_000_000,
    )
    assert message.raw["eventMessage"]["cliMsgId"] == "8001"
    assert message.raw["cliMsgId"] == "8001"


async def test_own_messages_and_empty_ones_are_ignored() -> None:
    assert (await normalize_message(dm(uidFrom="0"), "default", BOT)).ignored == "self"
    assert (await normalize_message(dm(content="   "), "default", BOT)).ignored == "empty"


async def test_sender_suffix_is_stripped_and_seconds_become_milliseconds() -> None:
    message = (await normalize_message(dm(uidFrom="2001_0", ts="1700000000"), "a", BOT)).message
    assert message is not None
    assert message.sender_id == "2001"
    assert message.timestamp_ms == 1_700_000_000_000


async def test_photo_is_an_image_reference_with_its_caption() -> None:
    content = {"title": "look", "href": "https://photo.example/a.jpg", "thumb": "t"}
    message = (await normalize_message(dm(msgType="chat.photo", content=content), "a", BOT)).message
    assert message is not None
    assert message.text == "look"
    (media,) = message.media
    assert (media.kind, media.url, media.path) == ("image", "https://photo.example/a.jpg", None)


@pytest.mark.parametrize(
    ("msg_type", "placeholder"),
    [
        ("chat.voice", "<media:audio>"),
        ("chat.video.msg", "<media:video>"),
        ("share.file", "<media:document>"),
    ],
)
async def test_other_attachments_are_placeholders(msg_type: str, placeholder: str) -> None:
    content = {"title": "report.pdf", "href": "https://f.example/x", "params": '{"fileSize":"12"}'}
    message = (await normalize_message(dm(msgType=msg_type, content=content), "a", BOT)).message
    assert message is not None
    (media,) = message.media
    assert media.placeholder == placeholder
    assert media.path is None
    if msg_type == "share.file":
        assert (message.text, media.name, media.size) == ("report.pdf", "report.pdf", 12)


async def test_location_contact_card_and_unknown_kinds_are_described() -> None:
    """Kinds without a file reach the agent as a short description."""
    location = {"title": "Cafe", "params": '{"latitude":10.77,"longitude":106.7}'}
    card = {
        "title": "Minh",
        "action": "recommened.user",
        "params": '{"contactUid":"3003","phone":"0901234567"}',
    }
    cases = [
        ("chat.location.new", location, "[location: Cafe 10.77,106.7]"),
        ("chat.recommended", card, "[contact card: Minh (Zalo id 3003, phone 0901234567)]"),
        ("chat.todo", {"foo": 1}, "[unsupported Zalo message: chat.todo]"),
        ("chat.sticker", {"id": 1, "catId": 2}, "[sticker]"),
    ]
    for msg_type, content, text in cases:
        event = dm(msgType=msg_type, content=content)
        message = (await normalize_message(event, "a", BOT)).message
        assert message is not None
        assert message.text == text


async def test_link_message_carries_title_and_url_as_text() -> None:
    content = {"title": "Docs", "description": "", "href": "https://docs.example/"}
    message = (
        await normalize_message(dm(msgType="chat.recommended", content=content), "a", BOT)
    ).message
    assert message is not None
    assert (message.text, message.media) == ("Docs\nhttps://docs.example/", ())


async def test_own_mention_sets_facts_and_is_cut_from_the_command_text() -> None:
    event = grp(content="@Bot /new", mentions=[{"uid": BOT, "pos": 0, "len": 4, "type": 0}])
    message = (await normalize_message(event, "a", BOT)).message
    assert message is not None
    assert message.chat_type is ChatType.GROUP
    assert message.chat_id == "9001"
    assert message.mentions.was_mentioned
    assert message.mentions.has_any_mention
    assert message.mentions.can_detect
    assert message.command_text == "/new"


async def test_mention_of_someone_else_is_not_a_mention_of_the_bot() -> None:
    event = grp(content="@Carol hi", mentions=[{"uid": "2002", "pos": 0, "len": 6, "type": 0}])
    message = (await normalize_message(event, "a", BOT)).message
    assert message is not None
    assert not message.mentions.was_mentioned
    assert message.mentions.has_any_mention
    assert message.command_text is None


async def test_mention_offsets_are_utf16() -> None:
    text = "😀 @Bot ping"
    event = grp(content=text, mentions=[{"uid": BOT, "pos": 3, "len": 4, "type": 0}])
    message = (await normalize_message(event, "a", BOT)).message
    assert message is not None
    assert message.command_text == "😀 ping"


async def test_quote_of_the_bot_counts_and_quote_facts_are_kept() -> None:
    quote = {"ownerId": BOT, "globalMsgId": "5", "cliMsgId": "6", "msg": "earlier", "fromD": "Bot"}
    message = (await normalize_message(grp(content="yes", quote=quote), "a", BOT)).message
    assert message is not None
    assert message.mentions.quoted_bot
    assert (message.reply_to_id, message.reply_to_text, message.reply_to_sender) == (
        "5",
        "earlier",
        "Bot",
    )


async def test_without_own_uid_mentions_cannot_be_detected() -> None:
    message = (await normalize_message(grp(content="hi"), "a", "")).message
    assert message is not None
    assert not message.mentions.can_detect


async def test_group_name_and_first_twenty_members_come_from_the_lookup() -> None:
    calls: list[str] = []

    async def fetch(group_id: str) -> GroupFacts:
        calls.append(group_id)
        return GroupFacts("Team", tuple(f"m{i}" for i in range(30)))

    cache = GroupInfoCache(fetch)
    first = (await normalize_message(grp(), "a", BOT, group_lookup=cache.get)).message
    second = (await normalize_message(grp(msgId="7002"), "a", BOT, group_lookup=cache.get)).message
    assert first is not None
    assert second is not None
    assert first.group_name == "Team"
    assert first.group_members == tuple(f"m{i}" for i in range(20))
    assert calls == ["9001"]  # the second message used the cache


async def test_group_cache_expires_bounds_its_size_and_survives_failures() -> None:
    now = [0.0]
    calls: list[str] = []

    async def fetch(group_id: str) -> GroupFacts:
        calls.append(group_id)
        if group_id == "bad":
            raise RuntimeError("boom")
        return GroupFacts(group_id)

    cache = GroupInfoCache(fetch, ttl_s=10, max_size=2, clock=lambda: now[0])
    assert (await cache.get("a")) == GroupFacts("a")
    await cache.get("b")
    await cache.get("c")
    assert len(cache) == 2
    now[0] = 11
    await cache.get("c")
    assert calls == ["a", "b", "c", "c"]
    assert await cache.get("bad") is None
