"""A personal account's sends go out from the node holding its session, over a real 3-server
NATS cluster: two in-process gateways with the zalouser channel against the personal fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.channel import ZalouserChannelOptions, create_channel
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.cluster import ClusterNode
from zalogate.cluster.sends import OwnerRoutedChannel
from zalogate.config.cluster import ClusterConfig
from zalogate.core.channel import Channel, ChannelAccount, ChannelPlugin
from zalogate.core.errors import DeliveryError, FailureKind
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.personal import Credentials
from zalogate.runtime.control import MessageRequest, SendRefusedError
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloPersonal

from .in_process import cluster_node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
BOT, ALICE = "1001", "2001"
TINY = BackoffConfig(min_delay=0.01, max_delay=0.05)
UNPACED = {
    "messagesPerMinute": 0,
    "conversationMessagesPerMinute": 0,
    "strangersPerDay": 0,
    "newConversationsPerHour": 0,
}


@contextlib.asynccontextmanager
async def personal_node(
    fake: FakeZaloPersonal, cluster: dict[str, Any], name: str, root: Path
) -> AsyncIterator[Gateway]:
    """A started gateway named ``name`` in the cluster, with the Bot's saved session."""
    state = root / name
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


async def state_becomes(gateway: Gateway, state: AccountState) -> None:
    async with asyncio.timeout(30):
        while True:
            record = gateway.status_board.get("zalouser", "default")
            if record is not None and record.state is state:
                return
            await asyncio.sleep(0.05)


async def test_a_standby_node_sends_through_the_node_holding_the_session(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        async with personal_node(fake, cluster_section, "a", tmp_path) as holder:
            await state_becomes(holder, AccountState.RUNNING)
            async with personal_node(fake, cluster_section, "b", tmp_path) as standby:
                await state_becomes(standby, AccountState.STANDBY)
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


class _Scripted(Channel):
    """A channel whose sends answer as told (the holder side of the unit tests)."""

    id = "scripted"
    text_limit = 2000

    def __init__(self) -> None:
        self.outcome: BaseException | None = None
        self.stall = False
        self.sent: list[str] = []

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

    async def probe(self, account: ChannelAccount) -> Any:
        raise NotImplementedError


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

        stop = asyncio.Event()
        running = asyncio.create_task(holder.run(account, stop))
        try:
            async with asyncio.timeout(10):
                while not holder.is_local(account):
                    await asyncio.sleep(0.01)
            await b.handles.client.flush()
            await a.handles.client.flush()
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
        finally:
            stop.set()
            await running
            await holder.aclose()
