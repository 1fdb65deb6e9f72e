"""A personal account's sends, look-ups and agent tool act from the node holding its session,
over a real 3-server NATS cluster: two in-process gateways with the zalouser channel against
the personal fake (which tells each saved session's client apart by its imei)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.channel import ZalouserChannelOptions, create_channel
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.cluster import ClusterNode
from zalogate.cluster.routed_ops import ROUTED_OPS, Peers, UnknownOpError, parse_request
from zalogate.cluster.session_owner import OwnerRoutedChannel
from zalogate.config.cluster import ClusterConfig
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelPlugin,
    DirectoryEntry,
    ProbeResult,
)
from zalogate.core.errors import ChannelError, DeliveryError, FailureKind
from zalogate.core.model import (
    ChatType,
    DeliveryReceipt,
    InboundMessage,
    MediaRef,
    ReplyPayload,
)
from zalogate.core.notices import UNSUPPORTED
from zalogate.personal import Credentials
from zalogate.runtime.control import MessageRequest, SendRefusedError
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloPersonal

from .in_process import cluster_node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
BOT, ALICE, TEAM = "1001", "2001", "9001"
EVENT = {  # a received message's raw event, as far as its receipts need it
    "msgId": "7001",
    "cliMsgId": "7002",
    "uidFrom": ALICE,
    "idTo": BOT,
    "msgType": "chat.todo",
    "st": 3,
    "at": 0,
    "cmd": 501,
    "ts": "1700000000000",
}
TINY = BackoffConfig(min_delay=0.01, max_delay=0.05)
UNPACED = {
    "messagesPerMinute": 0,
    "conversationMessagesPerMinute": 0,
    "strangersPerDay": 0,
    "newConversationsPerHour": 0,
}


@contextlib.asynccontextmanager
async def personal_node(
    fake: FakeZaloPersonal,
    cluster: dict[str, Any],
    name: str,
    root: Path,
    *,
    session: bool = True,
) -> AsyncIterator[Gateway]:
    """A started gateway named ``name`` in the cluster, with the Bot's saved session (none
    without ``session``)."""
    state = root / name
    if session:
        creds = Credentials.from_json(fake.credentials(BOT, user_agent=UA, domain="127.0.0.1"))
        CredentialStore(state).save("default", creds, uid=BOT)
    section = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
        "limits": UNPACED,
    }
    options = ZalouserChannelOptions(
        env={}, monitor=MonitorOptions(connect_timeout_s=5.0), receipt_delay=0.0
    )
    plugin = ChannelPlugin(
        id="zalouser",
        label="Zalo Personal",
        create=lambda context: create_channel(context, options),
    )
    async with cluster_node(
        cluster,
        name,
        root,
        {"zalouser": section},
        plugin,
        backoff=TINY,
        unauthorized_backoff=TINY,
        shutdown_timeout=5.0,
    ) as gateway:
        yield gateway


def imei_of(root: Path, name: str) -> str:
    """The imei of node ``name``'s saved session: its client's identity at the fake."""
    stored = CredentialStore(root / name).load("default")
    assert stored is not None
    return stored.credentials.imei


async def state_becomes(gateway: Gateway, state: AccountState) -> None:
    async with asyncio.timeout(30):
        while True:
            record = gateway.status_board.get("zalouser", "default")
            if record is not None and record.state is state:
                return
            await asyncio.sleep(0.05)


def from_alice(event: dict[str, Any], **fields: Any) -> InboundMessage:
    """Alice's DM to the Bot with the raw ``event`` (message 7001)."""
    return InboundMessage(
        channel="zalouser",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=ALICE,
        sender_id=ALICE,
        message_id="7001",
        timestamp_ms=1,
        raw={"eventMessage": event},
        **fields,
    )


@contextlib.asynccontextmanager
async def holder_and_standby(
    fake: FakeZaloPersonal, cluster: dict[str, Any], root: Path
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Node ``a`` running the account, then node ``b`` standing by."""
    async with personal_node(fake, cluster, "a", root) as holder:
        await state_becomes(holder, AccountState.RUNNING)
        async with personal_node(fake, cluster, "b", root) as standby:
            await state_becomes(standby, AccountState.STANDBY)
            yield holder, standby


async def test_a_standby_node_sends_through_the_node_holding_the_session(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        async with holder_and_standby(fake, cluster_section, tmp_path) as (holder, standby):
            request = MessageRequest(target=ALICE, text="sent from b")
            account_id, receipt = await standby.send_message("zalouser", "default", request)
            record = await fake.wait_for_sent(kind="text", text="sent from b")
            assert account_id == "default"
            assert receipt.message_ids == (record.msg_id,)
            assert len([r for r in fake.sent if r.text == "sent from b"]) == 1

            # The holder's failure reaches the standby node with its kind.
            fake.fail("api/message/sms", 102, "bad params", times=None)
            outcomes: list[FailureKind] = []
            for node in (holder, standby):
                with pytest.raises(SendRefusedError) as refused:
                    await node.send_message(
                        "zalouser", "default", MessageRequest(target=ALICE, text="no")
                    )
                cause = refused.value.__cause__
                assert isinstance(cause, DeliveryError)
                outcomes.append(cause.kind)
            assert outcomes[0] == outcomes[1]


async def test_look_ups_and_the_agent_tool_on_a_standby_node_are_done_by_the_holder(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        fake.add_group(TEAM, "Team", [BOT, ALICE])
        async with holder_and_standby(fake, cluster_section, tmp_path) as (_holder, standby):
            channel = standby.channels["zalouser"]
            account = channel.account("default")
            assert isinstance(channel, OwnerRoutedChannel)
            assert account is not None
            directory, members = channel.directory, channel.group_members
            assert directory is not None
            assert members is not None
            holder_calls = len(fake.calls_of(imei_of(tmp_path, "a")))

            peers = await directory.directory_peers(account, "alice")
            listed = await members.directory_group_members(account, f"group:{TEAM}")
            [tool] = channel.agent_tools(account, None)
            sent = await tool.call({"action": "send", "threadId": ALICE, "message": "tool b"})
            record = await fake.wait_for_sent(kind="text", text="tool b")

            assert peers == [DirectoryEntry(ALICE, "Alice", extra={"avatar": ANY})]
            assert sorted((m.id, m.name) for m in listed) == [(BOT, "Bot"), (ALICE, "Alice")]
            assert sent == {"success": True, "messageId": record.msg_id}
            asked = fake.calls_of(imei_of(tmp_path, "a"))[holder_calls:]
            for path in ("/api/social/friend/getfriends", "/api/group/getmg-v2"):
                assert path in asked
            assert "/api/message/sms" in asked
            assert fake.calls_of(imei_of(tmp_path, "b")) == []  # b never logged in

            # A message b processes: its receipts and the unsupported-kind notice go out
            # from the holder (b prepares it: access control passed there).
            unsupported = from_alice(
                EVENT, media=(MediaRef(kind="other", placeholder=UNSUPPORTED),)
            )
            assert await channel.prepare_inbound(account, unsupported) is None
            seen = await fake.wait_for_sent(kind="seen")
            notice = await fake.wait_for_sent(lambda r: r.text != "tool b", kind="text")
            assert (seen.msg_id, notice.thread_id) == ("7001", ALICE)
            assert fake.calls_of(imei_of(tmp_path, "b")) == []

            # Where nobody runs the account (its lease moving), the tool says so in one line.
            nobody = ClusterConfig.model_validate(
                {**cluster_section, "prefix": f"{cluster_section['prefix']}n"}
            )
            async with ClusterNode(nobody, node_id="c") as c:
                lonely = OwnerRoutedChannel(
                    channel.inner, c.handles.client, c.handles.layout, timeout=5.0
                )
                [tool] = lonely.agent_tools(account, None)
                refused = await tool.call({"action": "send", "threadId": ALICE, "message": "x"})
                assert "lease is moving" in refused["error"]
                assert "\n" not in refused["error"]
            assert fake.calls_of(imei_of(tmp_path, "b")) == []


@contextlib.asynccontextmanager
async def holding(
    holder: OwnerRoutedChannel, account: ChannelAccount, *nodes: ClusterNode
) -> AsyncIterator[None]:
    """``holder`` runs ``account`` (answering the other nodes) until the block ends."""
    stop = asyncio.Event()
    running = asyncio.create_task(holder.run(account, stop))
    try:
        async with asyncio.timeout(10):
            while not holder.is_local(account):
                await asyncio.sleep(0.01)
        for node in nodes:
            await node.handles.client.flush()
        yield
    finally:
        stop.set()
        await running
        await holder.aclose()


class _Scripted(Channel):
    """A channel whose sends answer as told (the holder side of the unit tests)."""

    id = "scripted"
    text_limit = 2000

    def __init__(self) -> None:
        self.outcome: BaseException | None = None
        self.stall = False
        self.sent: list[str] = []
        self.book = _Book()

    def accounts(self) -> list[ChannelAccount]:
        return [ChannelAccount("scripted", "default", True, {})]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        if self.stall:
            await asyncio.Event().wait()
        if self.outcome is not None:
            raise self.outcome
        self.sent.append(reply.text)
        return DeliveryReceipt(message_ids=(f"m{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True, detail="fine", identity={"id": "me"}, warnings=("w",))

    @property
    def directory(self) -> _Book:
        return self.book

    @property
    def group_members(self) -> _Book:
        return self.book

    @property
    def receipts(self) -> _Book:
        return self.book


MESSAGE = InboundMessage(
    channel="scripted",
    account_id="default",
    chat_type=ChatType.GROUP,
    chat_id="g1",
    sender_id="u1",
    message_id="m9",
    timestamp_ms=1,
    raw={"eventMessage": {"msgId": "m9"}},
)
PEERS = [DirectoryEntry("u1", "Ann", extra={"avatar": "a.png"}), DirectoryEntry("u2")]
MEMBERS = [DirectoryEntry("u1", "Ann"), DirectoryEntry("u3", "Cy", extra={"role": 1})]


class _Book:
    """A directory that answers from lists, or fails with ``failure``."""

    def __init__(self) -> None:
        self.failure: BaseException | None = None
        self.stall = False
        self.asked: list[tuple[str, ...]] = []
        self.acknowledged: list[InboundMessage] = []

    async def _answer(self, *asked: str) -> None:
        self.asked.append(asked)
        if self.stall:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        await self._answer("self")
        return DirectoryEntry("me", "Me")

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> list[DirectoryEntry]:
        await self._answer("peers", str(query), str(limit))
        return PEERS

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> list[DirectoryEntry]:
        await self._answer("groups", str(query))
        return [DirectoryEntry("group:g1", "G", kind="group", extra={"memberCount": 2})]

    async def directory_group_members(
        self, account: ChannelAccount, group_id: str
    ) -> list[DirectoryEntry]:
        await self._answer("members", group_id)
        return MEMBERS

    async def acknowledge(self, account: ChannelAccount, message: InboundMessage) -> None:
        self.acknowledged.append(message)


async def test_routed_sends_keep_the_outcome_kind_and_time_out_as_unknown(
    cluster_settings: ClusterConfig,
) -> None:
    settings = cluster_settings.model_copy(update={"send_timeout_seconds": 1.0})
    inner = _Scripted()
    account = inner.accounts()[0]
    async with ClusterNode(settings, node_id="a") as a, ClusterNode(settings, node_id="b") as b:
        holder = OwnerRoutedChannel(
            inner, a.handles.client, a.handles.layout, timeout=settings.send_timeout_seconds
        )
        other = OwnerRoutedChannel(
            _Scripted(), b.handles.client, b.handles.layout, timeout=settings.send_timeout_seconds
        )
        reply = ReplyPayload(text="hi")

        with pytest.raises(DeliveryError) as nobody:  # nobody runs the account: nothing sent
            await other.send(account, "u1", reply)
        assert nobody.value.kind is FailureKind.RETRYABLE

        async with holding(holder, account, b, a):
            receipt = await other.send(account, "u1", reply)
            assert receipt.message_ids == ("m1",)
            assert inner.sent == ["hi"]

            for kind in (FailureKind.FATAL, FailureKind.UNAUTHORIZED, FailureKind.RETRYABLE):
                inner.outcome = DeliveryError("refused", kind=kind, partial_ids=("p1",))
                with pytest.raises(DeliveryError) as failed:
                    await other.send(account, "u1", reply)
                assert failed.value.kind is kind
                assert failed.value.partial_ids == ("p1",)
                assert "refused" in str(failed.value)

            inner.outcome, inner.stall = None, True
            with pytest.raises(DeliveryError) as unknown:
                await other.send(account, "u1", reply)
            assert unknown.value.kind is FailureKind.DELIVERY_UNKNOWN


async def test_routed_look_ups_are_typed_keep_their_kind_and_refuse_unknown_ops(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    inner = _Scripted()
    account = inner.accounts()[0]
    a, b = nodes
    holder = OwnerRoutedChannel(inner, a.handles.client, a.handles.layout, timeout=5.0)
    other = OwnerRoutedChannel(
        _Scripted(), b.handles.client, b.handles.layout, timeout=5.0, lookup_timeout=1.0
    )
    directory, members = other.directory, other.group_members
    assert directory is not None
    assert members is not None
    assert other.user_profiles is None
    assert other.stickers is None

    with pytest.raises(ChannelError) as nobody:  # nobody runs the account
        await members.directory_group_members(account, "group:g1")
    assert nobody.value.kind is FailureKind.RETRYABLE
    assert not isinstance(nobody.value, DeliveryError)
    assert "lease is moving" in str(nobody.value)
    assert "\n" not in str(nobody.value)
    receipts = other.receipts
    assert receipts is not None
    await receipts.acknowledge(account, MESSAGE)  # best effort: no holder, nothing raised

    async with holding(holder, account, a):
        assert await directory.directory_peers(account, "an", 5) == PEERS
        assert await members.directory_group_members(account, "g1") == MEMBERS
        assert (await directory.directory_self(account)).name == "Me"
        [group] = await directory.directory_groups(account)
        assert (group.kind, group.extra) == ("group", {"memberCount": 2})
        probe = await other.probe(account)
        assert probe == ProbeResult(True, "fine", {"id": "me"}, ["w"])
        # The holder's own look-ups run here, on the same directory.
        here = holder.directory
        assert here is not None
        assert await here.directory_peers(account) == PEERS
        assert inner.book.asked[:2] == [("peers", "an", "5"), ("members", "g1")]
        await receipts.acknowledge(account, MESSAGE)
        assert inner.book.acknowledged == [MESSAGE]

        inner.book.failure = ChannelError("log in again", kind=FailureKind.UNAUTHORIZED)
        with pytest.raises(ChannelError) as failed:
            await directory.directory_peers(account)
        assert failed.value.kind is FailureKind.UNAUTHORIZED
        assert "log in again" in str(failed.value)

        subject = b.handles.layout.send_subject(inner.id, account.account_id)
        for body, said in (
            (b'{"op": "drop_tables"}', "unknown routed op 'drop_tables'"),
            (b'{"op": "send", "target": "u1"}', "routed send request is malformed"),
            (b'{"op": "directory_user", "user_id": "u1"}', "has no user profiles"),
        ):
            answer = await b.handles.client.request(subject, body, timeout=5.0)
            error = json.loads(answer.data)["error"]
            assert error["kind"] == "fatal"
            assert said in error["message"]

        inner.book.failure, inner.book.stall = None, True  # a read may be asked again
        with pytest.raises(ChannelError) as slow:
            await directory.directory_self(account)
        assert slow.value.kind is FailureKind.RETRYABLE
        assert "did not answer the directory_self look-up" in str(slow.value)


def test_the_routed_op_set_is_closed() -> None:
    assert ROUTED_OPS == (
        "send", "link", "sticker", "react", "typing", "receipt", "directory_self",
        "directory_peers", "directory_groups", "directory_user", "directory_group_members",
        "probe",
    )  # fmt: skip
    request = parse_request(Peers(query="a", limit=3).model_dump_json().encode())
    assert request == Peers(query="a", limit=3)
    for bad in (b"[1]", b"not json", b'{"op": "peers"}', b'{"op": "probe", "x": 1}'):
        with pytest.raises(UnknownOpError):
            parse_request(bad)


async def test_a_reply_prepared_off_the_holder_quotes_the_message_it_answers(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        async with holder_and_standby(fake, cluster_section, tmp_path) as (_holder, standby):
            channel = standby.channels["zalouser"]
            account = channel.account("default")
            assert account is not None
            asked = {**EVENT, "msgType": "webchat", "content": "what time is it?"}
            message = from_alice(asked, text="what time is it?")
            # b prepares the message (as when it took it from the inbox) and replies
            # quoting it; the holder sends, with the quote.
            assert await channel.prepare_inbound(account, message) is not None
            reply = ReplyPayload(text="noon", reply_to_id="7001")
            receipt = await channel.send(account, ALICE, reply)
            record = await fake.wait_for_sent(kind="text", text="noon")
    assert receipt.message_ids == (record.msg_id,)
    assert record.endpoint.endswith("/api/message/quote")
    assert (record.params["qmsgId"], record.params["qmsg"]) == ("7001", "what time is it?")
    assert fake.calls_of(imei_of(tmp_path, "b")) == []


async def test_the_account_moves_to_a_node_without_a_saved_session_and_keeps_its_login(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    # gateway.cluster.sessionKey: the session the holder saved is shared, sealed.
    cluster = {**cluster_section, "sessionKey": "a-long-shared-session-key-0123"}
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        first = contextlib.AsyncExitStack()
        holder = await first.enter_async_context(personal_node(fake, cluster, "a", tmp_path))
        try:
            await state_becomes(holder, AccountState.RUNNING)
            identity = imei_of(tmp_path, "a")
            async with personal_node(fake, cluster, "b", tmp_path, session=False) as standby:
                await state_becomes(standby, AccountState.STANDBY)
                assert CredentialStore(tmp_path / "b").load("default") is None
                sealed = await _vault_entry(standby, cluster["prefix"])
                await first.aclose()  # a stops: b takes the account over with a's login
                await state_becomes(standby, AccountState.RUNNING)
                calls = len(fake.calls_of(identity))
                request = MessageRequest(target=ALICE, text="from b, same device")
                await standby.send_message("zalouser", "default", request)
                await fake.wait_for_sent(kind="text", text="from b, same device")
        finally:
            await first.aclose()
    moved = tmp_path / "b" / "credentials" / "zalouser" / "default.json"
    assert imei_of(tmp_path, "b") == identity  # Zalo sees the same device
    assert moved.stat().st_mode & 0o777 == 0o600
    assert "/api/message/sms" in fake.calls_of(identity)[calls:]
    assert identity.encode() not in sealed  # NATS holds ciphertext only


async def _vault_entry(node: Gateway, prefix: str) -> bytes:
    """The raw value of the Bot's session in the cluster's vault, once the holder put it."""
    js = node.cluster.handles.js
    async with asyncio.timeout(10):
        while True:
            try:
                entry = await (await js.key_value(f"{prefix}_vault")).get("v.zalouser.default")
            except Exception:
                await asyncio.sleep(0.05)
                continue
            assert entry.value is not None
            return entry.value
