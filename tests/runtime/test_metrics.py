"""The metrics hooks: per-account counts, the handler wrapper, optional OpenTelemetry spans."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from zalogate.core.channel import AccountCounter, ChannelAccount
from zalogate.core.model import ChatType, InboundMessage
from zalogate.runtime.metrics import TRACES_ENV, GatewayMetrics, message_tracer, series_names
from zalogate.runtime.status import StatusBoard

from .test_account_control import ScriptedChannel


def message(n: int) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="a",
        chat_type=ChatType.DIRECT,
        chat_id="u1",
        sender_id="u1",
        message_id=f"m{n}",
        timestamp_ms=1,
        text="hi",
    )


class Spans:
    def __init__(self) -> None:
        self.opened: list[tuple[str, dict[str, Any]]] = []

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, attributes: dict[str, Any]) -> Iterator[None]:
        self.opened.append((name, attributes))
        yield


async def test_counts_per_account_and_spans_when_traced() -> None:
    metrics = GatewayMetrics(StatusBoard())
    spans = Spans()

    async def handler(msg: InboundMessage) -> None:
        if msg.message_id == "m2":
            raise RuntimeError("boom")

    handle = metrics.timed(handler, tracer=spans)
    await handle(message(1))
    with pytest.raises(RuntimeError):
        await handle(message(2))
    metrics.count_admission("zalo", "a", duplicate=False)
    metrics.count_admission("zalo", "a", duplicate=True)
    metrics.count_sent("zalo", "a")
    body = (await metrics.exposition()).decode()
    assert 'zalogate_messages_processed_total{account="a",channel="zalo"} 1.0' in body
    assert 'zalogate_messages_failed_total{account="a",channel="zalo"} 1.0' in body
    assert 'zalogate_messages_received_total{account="a",channel="zalo"} 2.0' in body
    assert 'zalogate_messages_admitted_total{account="a",channel="zalo"} 1.0' in body
    assert 'zalogate_messages_sent_total{account="a",channel="zalo"} 1.0' in body
    assert "zalogate_end_to_end_seconds_count" in series_names(body.encode())
    assert [name for name, _ in spans.opened] == ["zalogate.message", "zalogate.message"]
    assert spans.opened[0][1]["zalogate.account"] == "a"


def test_traces_are_off_unless_asked_for() -> None:
    assert message_tracer({}) is None
    assert message_tracer({TRACES_ENV: "0"}) is None
    pytest.importorskip("opentelemetry")
    assert message_tracer({TRACES_ENV: "1"}) is not None


class CountingChannel(ScriptedChannel):
    """Reports its own numbers per account (and one it must not be allowed to serve)."""

    def account_counters(self, account: ChannelAccount) -> Sequence[AccountCounter]:
        if account.account_id == "broken":
            raise RuntimeError("no numbers today")
        return [
            AccountCounter("widgets_made", 3, help="widgets made"),
            AccountCounter("queue_length", 1.5, "gauge"),
            AccountCounter("Bad-Name", 1),
            AccountCounter("double_total", 1),
        ]


async def test_channels_own_counters_are_typed_series_per_account() -> None:
    channel = CountingChannel(["a", "broken"], {})
    metrics = GatewayMetrics(StatusBoard(), channels=lambda: {"fake": channel})
    text = (await metrics.exposition()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["zalogate_channel_widgets_made"].type == "counter"
    assert families["zalogate_channel_queue_length"].type == "gauge"
    assert 'zalogate_channel_widgets_made_total{account="a",channel="fake"} 3.0' in text
    assert 'zalogate_channel_queue_length{account="a",channel="fake"} 1.5' in text
    assert "broken" not in text  # its error is logged; the other series are served
    assert 'account="off"' not in text  # disabled accounts report nothing
    assert not [name for name in families if "bad" in name.lower() or "double" in name]


async def test_reconnects_are_counted_per_account_in_status_and_metrics() -> None:
    board = StatusBoard()
    seen: list[int] = []
    board.subscribe(lambda record: seen.append(record.reconnects))
    board.count_reconnect("zalouser", "a")
    board.count_reconnect("zalouser", "a")
    record = board.get("zalouser", "a")
    assert record is not None
    assert record.to_json()["reconnects"] == 2
    assert seen == [1, 2]
    body = (await GatewayMetrics(board).exposition()).decode()
    assert 'zalogate_account_reconnects_total{account="a",channel="zalouser"} 2.0' in body


def test_channels_status_shows_the_gateways_reconnect_count() -> None:
    from zalogate.cli.channel_status import _live_runtime

    board = StatusBoard()
    board.count_reconnect("zalouser", "a")
    record = board.get("zalouser", "a")
    assert record is not None
    assert _live_runtime(record.to_json())["reconnects"] == 1
    assert _live_runtime({"state": "running"})["reconnects"] == 0
