"""Outbound through the channel (as ``message send`` and the pipeline use it): Markdown to
Zalo styles, chunking after formatting, photos with captions, files, links, reactions,
targets, retries and partial deliveries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.channels.zalouser.mentions import find_mentions
from zalogate.core.agent import Turn
from zalogate.core.errors import DeliveryError
from zalogate.core.model import ReplyPayload
from zalogate.testing.fake_botapi import make_png
from zalogate.testing.fake_personal import SentRecord

from .conftest import RecordingAgent, World, eventually


def styles(record: SentRecord) -> list[dict[str, Any]]:
    raw = record.params.get("textProperties")
    return json.loads(raw)["styles"] if raw else []


class FlakyTransport(httpx2.AsyncBaseTransport):
    """Real HTTP, except that the listed calls (1-based, per path suffix) get ``status``."""

    def __init__(self, path: str, calls: Iterable[int], status: int) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.path = path
        self.fail = set(calls)
        self.status = status
        self.seen = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(self.path):
            self.seen += 1
            if self.seen in self.fail:
                return httpx2.Response(self.status, json={"error": "simulated"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_markdown_reply_is_sent_with_zalo_styles(world: World) -> None:
    """P23: ``**hello**`` goes out as ``hello`` with bold {0,5}."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        account = channel.accounts()[0]
        receipt = await channel.send(account, world.ALICE, ReplyPayload(text="**hello** there"))
    (record,) = world.records("text")
    assert (record.text, record.thread_id, record.thread_type) == (
        "hello there",
        world.ALICE,
        "user",
    )
    assert styles(record) == [{"start": 0, "len": 5, "st": "b"}]
    assert receipt.message_ids == (record.msg_id,)


async def test_plain_text_goes_out_unchanged(world: World) -> None:
    """P22: text without Markdown is literal (no styles)."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text="2 * 3 = 6"))
    (record,) = world.records("text")
    assert (record.text, styles(record)) == ("2 * 3 = 6", [])


async def test_long_markdown_reply_passes_whole_and_is_chunked_after_formatting(
    world: World,
) -> None:
    """P17/P25: the pipeline hands the channel the whole ``**ax2501**`` once; it goes out as
    2000 + 501 units, bold in each chunk."""
    world.save_session()
    agent = RecordingAgent(lambda turn: "**" + "a" * 2501 + "**")
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "long please")
        await world.sent(kind="text", thread_id=world.ALICE, count=2)
    first, second = world.records("text", world.ALICE)
    assert (first.text, second.text) == ("a" * 2000, "a" * 501)
    assert styles(first) == [{"start": 0, "len": 2000, "st": "b"}]
    assert styles(second) == [{"start": 0, "len": 501, "st": "b"}]


async def test_formatting_that_grows_the_text_is_rechunked(world: World) -> None:
    """P24: 500 tabs + 1500 letters format to 3500 units: two sends, the receipt has both ids."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        receipt = await channel.send(
            channel.accounts()[0], world.ALICE, ReplyPayload(text="\t" * 500 + "a" * 1500)
        )
    records = world.records("text")
    assert len(records) == 2
    assert all(len(r.text or "") <= 2000 for r in records)
    assert "".join(r.text or "" for r in records) == "\u00a0" * 2000 + "a" * 1500
    assert receipt.message_ids == tuple(r.msg_id for r in records)


async def test_newline_chunk_mode_and_custom_limit(world: World) -> None:
    """P26 with ``chunkMode: newline``; ``textChunkLimit`` 1200 (P25)."""
    world.save_session()
    config = world.config(chunkMode="newline", textChunkLimit=1200)
    async with world.channel(config) as channel:
        text = "**" + "a" * 1195 + "**\n\nsecond paragraph"
        await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text=text))
    first, second = world.records("text")
    assert first.text == "a" * 1195 + "\n\n"
    assert styles(first) == [{"start": 0, "len": 1195, "st": "b"}]
    assert (second.text, styles(second)) == ("second paragraph", [])


async def test_photo_with_caption_and_overflow_text(world: World, tmp_path: Path) -> None:
    """P23/P27: a local image goes out as a photo with the (formatted) caption; caption text
    beyond one message follows as text."""
    world.save_session()
    image = tmp_path / "chart.png"
    image.write_bytes(make_png(6, 4))
    caption = "_cap_ " + "b" * 2100
    async with world.channel(world.config()) as channel:
        receipt = await channel.send(
            channel.accounts()[0],
            f"group:{world.GROUP}",
            ReplyPayload(text=caption, media_urls=(str(image),)),
        )
    (photo,) = world.records("photo")
    assert photo.thread_type == "group"
    assert photo.text == "cap "  # the chunk ends at the last space that fits
    assert (photo.params["width"], photo.params["height"]) == (6, 4)
    overflow = world.records("text")
    assert overflow
    assert "".join([photo.text or "", *(r.text or "" for r in overflow)]) == "cap " + "b" * 2100
    assert receipt.message_ids[0] == photo.msg_id


async def test_photo_from_a_url_and_the_ssrf_guard(world: World) -> None:
    world.save_session()
    url = world.fake._store_media(make_png(2, 2), ".png")
    async with world.channel(world.config()) as channel:
        await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(media_urls=(url,)))
    assert len(world.records("photo")) == 1
    strict = world.options(allow_loopback_media=False)
    async with world.channel(world.config(), strict) as channel:
        with pytest.raises(DeliveryError, match="media URL") as excinfo:
            await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(media_urls=(url,)))
    assert not excinfo.value.retryable


async def test_file_send_needs_the_listener(world: World, tmp_path: Path) -> None:
    world.save_session()
    document = tmp_path / "notes.txt"
    document.write_text("hello file")
    payload = ReplyPayload(text="see attached", media_urls=(str(document),))
    async with world.channel(world.config()) as channel:
        with pytest.raises(DeliveryError, match="websocket listener"):
            await channel.send(channel.accounts()[0], world.ALICE, payload)
    async with world.gateway(world.config()) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        await eventually(lambda: channel.listener_state("default").state == "connected")
        receipt = await channel.send(channel.accounts()[0], world.ALICE, payload)
    (record,) = world.records("file")
    assert record.text == "notes.txt"
    assert world.fake.media[record.params["fileUrl"].rsplit("/", 1)[-1]] == b"hello file"
    text = world.records("text", world.ALICE)
    assert [r.text for r in text] == ["see attached"]
    assert receipt.message_ids == (record.msg_id, text[0].msg_id)


async def test_several_images_go_out_as_one_album_after_the_text(
    world: World, tmp_path: Path
) -> None:
    """Two images or more: the text first, on its own (quoted when quoting), then one album
    (shared groupLayoutId, idInGroup 0..n-1) with no captions; the receipt lists all."""
    world.save_session()
    paths = []
    for index in range(3):
        paths.append(tmp_path / f"p{index}.png")
        paths[-1].write_bytes(make_png(index + 2, 2))
    payload = ReplyPayload(text="our trip", media_urls=tuple(str(p) for p in paths))
    async with world.channel(world.config()) as channel:
        receipt = await channel.send(channel.accounts()[0], f"group:{world.GROUP}", payload)
    (text,) = world.records("text")
    photos = world.records("photo")
    assert text.text == "our trip"
    assert [p.params["idInGroup"] for p in photos] == [0, 1, 2]
    assert {p.params["groupLayoutId"] for p in photos} == {photos[0].params["groupLayoutId"]}
    assert {(p.params["totalItemInGroup"], p.params["desc"]) for p in photos} == {(3, "")}
    assert [p.params["width"] for p in photos] == [2, 3, 4]
    assert receipt.message_ids == (text.msg_id, *(p.msg_id for p in photos))
    # One governor turn per photo (an album is several messages to Zalo).
    assert channel.send_status("default").sent == 4


async def test_video_from_a_url_goes_out_as_video_a_local_one_as_file(
    world: World, tmp_path: Path
) -> None:
    world.save_session()
    clip = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    url = world.fake._store_media(clip, ".mp4")
    async with world.channel(world.config()) as channel:
        receipt = await channel.send(
            channel.accounts()[0], world.ALICE, ReplyPayload(text="clip", media_urls=(url,))
        )
    (video,) = world.records("video")
    info = json.loads(video.params["msgInfo"])
    assert (info["videoUrl"], info["fileSize"]) == (url, len(clip))
    assert (info["width"], info["height"], info["duration"]) == (1280, 720, 0)
    assert "thumbUrl" not in info
    (text,) = world.records("text")
    assert receipt.message_ids == (video.msg_id, text.msg_id)
    local = tmp_path / "clip.mp4"
    local.write_bytes(clip)
    async with world.gateway(world.config()) as (_, channel):
        await eventually(lambda: channel.listener_state("default").state == "connected")
        await channel.send(
            channel.accounts()[0], world.ALICE, ReplyPayload(media_urls=(str(local),))
        )
    (document,) = world.records("file")
    assert document.text == "clip.mp4"


async def test_link_with_preview(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        receipt = await channel.send_link(
            channel.accounts()[0], world.ALICE, "https://example.com/docs", "Read this"
        )
    (record,) = world.records("link")
    assert record.text == "Read this https://example.com/docs"
    assert receipt.message_ids == (record.msg_id,)


@pytest.mark.parametrize(
    ("target", "thread", "kind"),
    [
        ("zlu:g:9001", "9001", "group"),
        ("zalouser:group:9001", "9001", "group"),
        ("2001", "2001", "user"),
        ("zalouser:u:2001", "2001", "user"),
    ],
)
async def test_targets(world: World, target: str, thread: str, kind: str) -> None:
    """P28: provider and kind prefixes; a bare id is a DM."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        await channel.send(channel.accounts()[0], target, ReplyPayload(text="hi"))
    (record,) = world.records("text")
    assert (record.thread_id, record.thread_type) == (thread, kind)


async def test_foreign_target_prefix_is_refused(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        with pytest.raises(DeliveryError) as excinfo:
            await channel.send(channel.accounts()[0], "zalo:123", ReplyPayload(text="hi"))
    assert not excinfo.value.retryable


async def test_reaction_aliases_reach_zalo(world: World) -> None:
    world.save_session()
    async with world.gateway(world.config(dmPolicy="open", allowFrom=["*"])) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        message = await world.fake.user(world.ALICE).says_to(world.BOT, "react to me")
        await world.sent(kind="text", thread_id=world.ALICE)
        sid = f"{message['msgId']}:{message['cliMsgId']}"
        account = channel.accounts()[0]
        await channel.reactions.react(account, world.ALICE, sid, "heart")
        await channel.reactions.react(account, world.ALICE, sid, "")
        await channel.reactions.react(account, world.ALICE, sid, "", remove=True)
    icons = [(r.text, r.msg_id) for r in world.records("reaction")]
    assert icons == [
        ("/-heart", message["msgId"]),
        ("/-strong", message["msgId"]),
        ("", message["msgId"]),
    ]


async def test_transient_failures_are_retried(world: World) -> None:
    world.save_session()
    flaky = FlakyTransport("/api/message/sms", calls=[1, 2], status=503)
    async with world.channel(world.config(), world.options(transport=flaky)) as channel:
        receipt = await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text="hi"))
    assert flaky.seen == 3
    assert len(world.records("text")) == 1
    assert len(receipt.message_ids) == 1


async def test_other_errors_are_not_retried(world: World) -> None:
    world.save_session()
    world.fake.fail("api/message/sms", 102, "bad params", times=None)
    async with world.channel(world.config()) as channel:
        with pytest.raises(DeliveryError) as excinfo:
            await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text="hi"))
    assert not excinfo.value.retryable
    assert "102" in str(excinfo.value)


async def test_failure_after_a_chunk_went_out_is_a_partial_delivery(world: World) -> None:
    world.save_session()
    flaky = FlakyTransport("/api/message/sms", calls=[2], status=400)
    async with world.channel(world.config(), world.options(transport=flaky)) as channel:
        receipt = await channel.send(
            channel.accounts()[0], world.ALICE, ReplyPayload(text="a" * 2500)
        )
    (first,) = world.records("text")
    assert receipt.partial
    assert receipt.message_ids == (first.msg_id,)
    assert "400" in (receipt.error or "")


async def test_delivery_failure_reaches_the_inbox(world: World) -> None:
    """P20: a send that fails for good fails the message (state `failed`, with the error)."""
    world.save_session()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        world.fake.fail("api/message/sms", 102, "zalouser send boom", times=None)
        message = await world.fake.user(world.ALICE).says_to(world.BOT, "hi")
        assert await world.processed(gateway, message) == "failed"
        assert gateway.store is not None
        row = await gateway.store.fetchone(
            "SELECT last_error FROM inbox_entries WHERE message_id = ?", (message["msgId"],)
        )
        assert row is not None
        assert "zalouser send boom" in str(row["last_error"])


async def test_sending_without_a_session_is_a_clear_error(world: World) -> None:
    """P36: a send without a saved session fails with the login hint instead of crashing."""
    async with world.channel(world.config()) as channel:
        account = channel.accounts()[0]
        with pytest.raises(DeliveryError, match="needs QR login"):
            await channel.send(account, world.ALICE, ReplyPayload(text="hi"))
        with pytest.raises(DeliveryError, match="needs QR login"):
            await channel.send_link(account, world.ALICE, "https://example.com")
        with pytest.raises(DeliveryError, match="needs QR login"):
            await channel.reactions.react(account, world.ALICE, "1:2", "like")


async def test_quote_replies_in_groups_quote_the_message_answered(world: World) -> None:
    """``quoteReplies: "groups"``: the first message of a group reply quotes the message it
    answers (Zalo's quote endpoint, strict checks passed); DM replies stay plain."""
    world.save_session()
    agent = RecordingAgent(lambda turn: "answer")
    config = world.config(
        groupPolicy="open",
        dmPolicy="open",
        allowFrom=["*"],
        quoteReplies="groups",
        groups={"*": {"requireMention": False}},
    )
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        asked = await world.fake.group(world.GROUP).user(world.ALICE).says("what time is it?")
        await world.sent(kind="text", thread_id=world.GROUP)
        await world.fake.user(world.ALICE).says_to(world.BOT, "and in a DM?")
        await world.sent(kind="text", thread_id=world.ALICE)
    group_reply, dm_reply = world.records("text")
    assert group_reply.endpoint.endswith("/api/group/quote")
    assert (group_reply.params["qmsgId"], group_reply.params["qmsg"]) == (
        asked["msgId"],
        "what time is it?",
    )
    assert dm_reply.endpoint.endswith("/api/message/sms")


class QuotingAgent:
    """Answers a long text that quotes the user's message (``reply_to_id``), as an HTTP
    agent's ``replyTo`` does."""

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        yield ReplyPayload(text="x" * 2100, reply_to_id=turn.message_id)


async def test_the_agents_reply_to_quotes_the_users_message_on_the_first_chunk(
    world: World,
) -> None:
    """With ``quoteReplies`` off, the agent's ``reply_to_id`` (kept by the pipeline for a
    channel that chunks itself) makes the first chunk quote the DM; the second is plain."""
    world.save_session()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, agent=QuotingAgent()):
        await world.fake.wait_for_listener(world.BOT)
        asked = await world.fake.user(world.ALICE).says_to(world.BOT, "tell me everything")
        await world.sent(kind="text", thread_id=world.ALICE, count=2)
    first, second = world.records("text")
    assert first.endpoint.endswith("/api/message/quote")
    assert (first.params["qmsgId"], first.params["qmsg"]) == (asked["msgId"], "tell me everything")
    assert second.endpoint.endswith("/api/message/sms")


async def test_at_names_of_group_members_become_real_mentions(world: World) -> None:
    """The agent writes ``@Carol`` and ``**@Alice**``: the group reply carries mention spans
    at their UTF-16 positions after formatting (Zalo's mention endpoint, strict checks);
    ``@Nobody`` stays text."""
    world.save_session()
    agent = RecordingAgent(lambda turn: "👋 @Carol and **@Alice**, ask @Nobody")
    config = world.config(groupPolicy="open", groups={"*": {"requireMention": False}})
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("who is here?")
        await world.sent(kind="text", thread_id=world.GROUP)
    (reply,) = world.records("text")
    assert reply.text == "👋 @Carol and @Alice, ask @Nobody"
    assert reply.endpoint.endswith("/api/group/mention")
    mentions = json.loads(reply.params["mentionInfo"])
    assert [(m["uid"], m["pos"], m["len"]) for m in mentions] == [
        (world.CAROL, 3, 6),
        (world.ALICE, 14, 6),
    ]


def test_find_mentions_prefers_longer_names_and_whole_names() -> None:
    members = [("An", "1"), ("An Nguyen", "2"), ("Bo", "3")]
    found = find_mentions("@An Nguyen hi @An, @Bob no, @Bo.", members)
    assert [(m.uid, m.pos, m.length) for m in found] == [("2", 0, 10), ("1", 14, 3), ("3", 28, 3)]
