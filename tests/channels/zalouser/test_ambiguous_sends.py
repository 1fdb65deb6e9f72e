"""Ambiguous sends (issue 12, item 2): a reset after the request was written or a read timeout
is ``DELIVERY_UNKNOWN`` (never retried inside the channel); the shared delivery code resends
it at most once (``messages.delivery.resendUnknown``). A failure before the request was
written stays retryable."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from zalogate.core.errors import DeliveryError, FailureKind
from zalogate.core.model import ReplyPayload

from .conftest import RecordingAgent, World, eventually

SMS = "/api/message/sms"


class FaultyTransport(httpx2.AsyncBaseTransport):
    """Real HTTP to the fake; the next ``count`` calls to ``path`` fail with ``error``,
    ``after`` the fake carried them out (the answer is lost) or before they were sent."""

    def __init__(self, path: str, error: type[httpx2.TransportError], *, after: bool) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.path = path
        self.error = error
        self.after = after
        self.count = 1

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not request.url.path.endswith(self.path) or self.count <= 0:
            return await self.inner.handle_async_request(request)
        self.count -= 1
        if self.after:
            response = await self.inner.handle_async_request(request)
            await response.aclose()
        raise self.error("simulated", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def texts(world: World, text: str) -> int:
    return sum(1 for r in world.records("text", world.ALICE) if r.text == text)


async def test_a_reset_after_zalo_took_the_send_is_delivery_unknown(world: World) -> None:
    world.save_session()
    world.fake.drop_after_next(SMS)
    async with world.channel(world.config()) as channel:
        with pytest.raises(DeliveryError) as caught:
            await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text="once"))
    assert caught.value.kind is FailureKind.DELIVERY_UNKNOWN
    assert texts(world, "once") == 1  # delivered, and not retried inside the channel


@pytest.mark.parametrize(
    ("error", "after", "kind", "delivered"),
    [
        (httpx2.ReadTimeout, True, FailureKind.DELIVERY_UNKNOWN, 1),
        (httpx2.RemoteProtocolError, True, FailureKind.DELIVERY_UNKNOWN, 1),
        # Nothing was written: retried inside the channel, delivered once.
        (httpx2.ConnectError, False, None, 1),
        (httpx2.ConnectTimeout, False, None, 1),
    ],
)
async def test_send_failures_are_classified_by_whether_the_request_was_written(
    world: World,
    error: type[httpx2.TransportError],
    after: bool,
    kind: FailureKind | None,
    delivered: int,
) -> None:
    world.save_session()
    transport = FaultyTransport(SMS, error, after=after)
    async with world.channel(world.config(), world.options(transport=transport)) as channel:
        account = channel.accounts()[0]
        if kind is None:
            await channel.send(account, world.ALICE, ReplyPayload(text="hi"))
        else:
            with pytest.raises(DeliveryError) as caught:
                await channel.send(account, world.ALICE, ReplyPayload(text="hi"))
            assert caught.value.kind is kind
    assert texts(world, "hi") == delivered


@pytest.mark.parametrize(("resend", "copies"), [("once", 2), ("never", 1)])
async def test_the_pipeline_resends_an_ambiguous_reply_at_most_once(
    world: World, resend: str, copies: int
) -> None:
    world.save_session()
    config = world.config(
        root={"messages": {"delivery": {"resendUnknown": resend}}},
        dmPolicy="open",
        allowFrom=["*"],
    )
    world.fake.drop_after_next(SMS, times=None)  # every reply's answer is lost
    async with world.gateway(config, agent=RecordingAgent()) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hello")
        await eventually(lambda: texts(world, "echo: hello") >= copies)
        assert gateway.inbox is not None
        await gateway.inbox.wait_idle()
        counters: Any = gateway.metrics.pipeline_counters() if gateway.metrics else None
        assert counters is not None
        assert counters.ambiguous == copies
        assert counters.resends == copies - 1
        assert counters.abandoned == 1
    assert texts(world, "echo: hello") == copies


async def test_sends_that_keep_failing_show_the_account_degraded_until_one_works(
    world: World,
) -> None:
    world.save_session()
    transport = FaultyTransport(SMS, httpx2.ConnectError, after=False)
    transport.count = 1_000
    opts = world.options(transport=transport)
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, opts, agent=RecordingAgent()) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "are you there")

        def shown() -> dict[str, Any]:
            (record,) = [s for s in gateway.status() if s.channel == "zalouser"]
            return record.to_json()

        await eventually(lambda: shown()["state"] == "degraded")
        assert "send failed" in (shown()["lastError"] or "")
        assert shown()["degradedSince"] is not None
        transport.count = 0  # Zalo reachable again: the inbox's next retry delivers
        await eventually(lambda: texts(world, "echo: are you there") == 1, timeout_s=15.0)
        await eventually(lambda: shown()["state"] == "running")
        assert shown()["degradedSince"] is None
