"""Inbound content: update normalisation, images downloaded after access control (capped,
SSRF-guarded), the unavailable-image notice, stickers and empty texts."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.channels.media import IMAGE_UNAVAILABLE, MediaFetcher
from zalogate.channels.zalo.accounts import UNSUPPORTED_REPLY
from zalogate.channels.zalo.inbound import (
    STICKER_TEXT,
    InvalidUpdateError,
    normalize_update,
    unwrap_update,
)
from zalogate.core.agent import Turn
from zalogate.core.model import ChatType, MediaRef, ReplyPayload
from zalogate.core.notices import only_unsupported
from zalogate.net.urlguard import UrlGuard
from zalogate.testing.fake_botapi import FakeZaloBotApi, make_png

from .conftest import Harness, HarnessFactory, fast_options, zalo_config

REAL_IMAGE_EVENT: dict[str, Any] = {
    "event_name": "message.image.received",
    "message": {
        "date": 1774084566880,
        "chat": {"chat_type": "PRIVATE", "id": "chat-123"},
        "caption": "",
        "message_id": "msg-123",
        "message_type": "CHAT_PHOTO",
        "from": {"id": "user-123", "is_bot": False, "display_name": "Test User"},
        "photo_url": "https://f21-zpc.zdn.vn/jpg/123/abc.jpg",
    },
}


class RecordingAgent:
    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        yield ReplyPayload(text="got it")


# ------------------------------------------------------------------ normalisation


def test_an_image_event_keeps_name_type_and_millisecond_timestamp() -> None:
    result = normalize_update(REAL_IMAGE_EVENT, "default")
    message = result.message
    assert message is not None
    assert message.sender_name == "Test User"
    assert message.timestamp_ms == 1774084566880
    assert message.chat_type is ChatType.DIRECT
    assert (message.chat_id, message.sender_id, message.message_id) == (
        "chat-123",
        "user-123",
        "msg-123",
    )
    assert message.text == ""
    assert message.media == (MediaRef(kind="image", url="https://f21-zpc.zdn.vn/jpg/123/abc.jpg"),)


def test_second_timestamps_become_milliseconds_and_name_falls_back() -> None:
    event = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "user-1", "name": "User One"},
            "chat": {"id": "dm-chat-1", "chat_type": "PRIVATE"},
            "message_id": "msg-1",
            "date": 1774080000,
            "text": "  hello from zalo  ",
        },
    }
    message = normalize_update(event, "work").message
    assert message is not None
    assert message.timestamp_ms == 1774080000000
    assert message.sender_name == "User One"
    assert message.text == "hello from zalo"
    assert message.account_id == "work"


def test_the_getupdates_doc_sample_without_event_name_is_a_text() -> None:
    sample = {
        "message": {
            "chat": {"id": "e4ea2cd5189df1c3a88c", "chat_type": "PRIVATE"},
            "text": "Xin chào",
            "message_id": "16f6366b3f02645a3d15",
            "date": 1766619597466,
            "from": {"id": "e4ea2cd5189df1c3a88c", "first_name": "Nguyen Van A"},
        }
    }
    message = normalize_update(sample, "default").message
    assert message is not None
    assert (message.text, message.sender_name) == ("Xin chào", "Nguyen Van A")


def test_group_messages_count_as_mentions() -> None:
    event = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "u1"},
            "chat": {"id": "g1", "chat_type": "GROUP"},
            "message_id": "m",
            "date": 1774080000000,
            "text": "@bot hi",
        },
    }
    message = normalize_update(event, "default").message
    assert message is not None
    assert message.chat_type is ChatType.GROUP
    assert message.mentions.was_mentioned is True


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_name": "message.voice.received"}, "event_name is unsupported"),
        ({"message": {"from": None}}, "missing message.from.id"),
        ({"message": {"chat": {"id": "c", "chat_type": "CHANNEL"}}}, "invalid chat type"),
        ({"message": {"date": "yesterday"}}, "invalid date"),
        ({"message": {"text": None}}, "missing message.text"),
    ],
)
def test_malformed_events_are_ignored_with_a_reason(change: dict[str, Any], reason: str) -> None:
    event: dict[str, Any] = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "u1"},
            "chat": {"id": "c1", "chat_type": "PRIVATE"},
            "message_id": "m1",
            "date": 1774080000000,
            "text": "hi",
        },
    }
    event.update({k: v for k, v in change.items() if k != "message"})
    event["message"].update(change.get("message", {}))
    if event["message"].get("from") is None:
        event["message"].pop("from")
    result = normalize_update(event, "default")
    assert result.message is None
    assert result.ignored is not None
    assert result.ignored.startswith("invalid-event")
    assert reason in result.ignored


@pytest.mark.parametrize(
    ("event", "sticker", "text", "media_urls"),
    [
        ("message.sticker.received", "abc", "", [None]),
        (
            "message.sticker.received",
            "https://zalo-api.zadn.vn/api/emoticon/oasticker?eid=1&size=130",
            STICKER_TEXT,
            ["https://zalo-api.zadn.vn/api/emoticon/oasticker?eid=1&size=130"],
        ),
        ("message.unsupported.received", None, "", [None]),
    ],
)
def test_stickers_and_unsupported_events_are_admitted_marked(
    event: str, sticker: str | None, text: str, media_urls: list[str | None]
) -> None:
    """OpenClaw issue 47550: no silence; a sticker image URL becomes an image to download,
    a sticker without one and an unsupported event are marked for the polite notice."""
    update = {
        "event_name": event,
        "message": {
            "from": {"id": "u1"},
            "chat": {"id": "c1", "chat_type": "PRIVATE"},
            "message_id": "m1",
            "date": 1774080000000,
            **({"sticker": sticker} if sticker else {}),
        },
    }
    message = normalize_update(update, "default").message
    assert message is not None
    assert message.text == text
    assert [m.url for m in message.media] == media_urls
    assert only_unsupported(message) is (text == "")


def test_unwrap_update_wants_message_and_chat_ids() -> None:
    good = unwrap_update({"ok": True, "result": REAL_IMAGE_EVENT})
    assert good is REAL_IMAGE_EVENT
    for bad in (None, [], {"message": {"chat": {"id": "c"}}}, {"message": {"message_id": "m"}}):
        with pytest.raises(InvalidUpdateError):
            unwrap_update(bad)


# ------------------------------------------------------------------ end to end


async def polling(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent, **changes: Any
) -> Harness:
    options = fast_options(**changes)
    harness = await make_harness(
        zalo_config(fake, dmPolicy="open", allowFrom=["*"]), agent=agent, options=options
    )
    harness.start()
    return harness


async def test_an_image_is_downloaded_after_access_and_handed_to_the_agent(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = RecordingAgent()
    await polling(fake, make_harness, agent)
    png = make_png(3, 3)
    url = fake.add_media("cat.png", png)
    fake.user("u1", name="Test User").sends_image(url, caption="con mèo", date=1774084566880)
    await fake.wait_for_sent(1)
    [turn] = agent.turns
    [media] = turn.media
    assert (turn.text, turn.body) == ("con mèo", "con mèo")
    assert (turn.sender_name, turn.timestamp_ms) == ("Test User", 1774084566880)
    assert media.mime_type == "image/png"
    assert media.size == len(png)
    assert media.path is not None
    with open(media.path, "rb") as handle:
        assert handle.read() == png
    assert stat.S_IMODE(os.stat(media.path).st_mode) == 0o600
    assert fake.media_requests == ["cat.png"]


async def test_an_image_without_caption_is_a_media_placeholder(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = RecordingAgent()
    await polling(fake, make_harness, agent)
    fake.user("u1").sends_image()
    await fake.wait_for_sent(1)
    [turn] = agent.turns
    assert turn.body == "<media:image>"


@pytest.mark.parametrize(
    ("caption", "body"), [("/reset", f"/reset\n\n{IMAGE_UNAVAILABLE}"), ("", IMAGE_UNAVAILABLE)]
)
async def test_a_failed_download_still_reaches_the_agent_with_the_notice(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caption: str, body: str
) -> None:
    agent = RecordingAgent()
    await polling(fake, make_harness, agent)
    fake.user("u1").sends_image("http://127.0.0.1:9/gone.jpg", caption=caption)
    await fake.wait_for_sent(1)
    [turn] = agent.turns
    assert turn.text == caption
    assert turn.body == body
    [media] = turn.media
    assert (media.kind, media.path, media.placeholder) == ("image", None, IMAGE_UNAVAILABLE)


async def test_an_image_over_media_max_mb_is_not_kept(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = RecordingAgent()
    harness = await make_harness(
        zalo_config(fake, dmPolicy="open", allowFrom=["*"], mediaMaxMb=0.001),  # 1048 bytes
        agent=agent,
    )
    harness.start()
    url = fake.add_media("big.png", make_png() + b"\0" * 2000)
    fake.user("u1").sends_image(url, caption="big")
    await fake.wait_for_sent(1)
    [turn] = agent.turns
    assert turn.body == f"big\n\n{IMAGE_UNAVAILABLE}"
    assert not list((harness.channel.context.state_dir / "media").rglob("*.png"))


async def test_loopback_photo_urls_are_refused_by_default(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = RecordingAgent()
    await polling(fake, make_harness, agent, allow_loopback_media=False)
    fake.user("u1").sends_image(caption="ssrf?")  # the fake serves it on 127.0.0.1
    await fake.wait_for_sent(1)
    [turn] = agent.turns
    assert turn.body == f"ssrf?\n\n{IMAGE_UNAVAILABLE}"
    assert fake.media_requests == []


async def test_blank_texts_start_no_turn_unreadable_kinds_get_one_notice(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    """A sticker without an image and an unsupported event start no turn: the conversation
    gets one polite notice (the first time only); a sticker image reaches the agent."""
    agent = RecordingAgent()
    harness = await polling(fake, make_harness, agent)
    user = fake.user("u1")
    user.says("   ")
    user.sends_sticker()
    user.sends_unsupported()
    user.sends_sticker(fake.add_media("s.png", make_png(2, 2)))
    user.says("after")
    await fake.wait_for_sent(3)
    await harness.settle()
    assert [t.text for t in agent.turns] == [STICKER_TEXT, "after"]
    assert next(r.text for r in fake.sent) == UNSUPPORTED_REPLY
    assert [r.text for r in fake.sent].count(UNSUPPORTED_REPLY) == 1
    assert harness.inbox.counters.admitted == 4


async def test_the_notice_is_configurable_and_can_be_off(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = RecordingAgent()
    for setting, said in (("Chỉ đọc được chữ nhé!", "Chỉ đọc được chữ nhé!"), (False, None)):
        config = zalo_config(fake, dmPolicy="open", allowFrom=["*"], unsupportedReply=setting)
        harness = await make_harness(config, agent=agent, options=fast_options())
        harness.start()
        before = len(fake.sent)
        fake.user("u2").sends_unsupported()
        fake.user("u2").says("ping")
        await fake.wait_for_sent(before + (2 if said else 1))
        await harness.settle()
        assert [r.text for r in fake.sent[before:]][:-1] == ([said] if said else [])
        await harness.stop_monitors()


# ------------------------------------------------------------------ the fetcher itself
# (downloads: tests/net/test_download.py)


def test_old_downloads_are_pruned(tmp_path: Path) -> None:
    fetcher = MediaFetcher(tmp_path / "media", guard=UrlGuard())
    assert fetcher.prune(60.0) == 0  # nothing downloaded yet
    old = tmp_path / "media" / "acct" / "old.png"
    new = tmp_path / "media" / "acct" / "new.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (1_000_000.0, 1_000_000.0))
    os.utime(new, (2_000_000.0, 2_000_000.0))
    assert fetcher.prune(500_000.0, now=2_000_000.0) == 1
    assert (old.exists(), new.exists()) == (False, True)
