"""Prometheus metrics of the running gateway (``/metrics``, ``zalogate_`` series).

In the message path: :meth:`GatewayMetrics.timed` around the inbox handler (end-to-end
latency, processed messages per account), :meth:`GatewayMetrics.timed_agent` around the agent
(agent latency), and two counters the gateway bumps where it already stamps the status board
(:meth:`~GatewayMetrics.count_admission`, :meth:`~GatewayMetrics.count_sent`). Each costs a
dict look-up and an increment. The pipeline's and inbox's running totals, the account states
and the inbox depth are read when Prometheus scrapes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from zalogate.core.agent import Turn
from zalogate.core.channel import Channel
from zalogate.core.model import InboundMessage, ReplyPayload
from zalogate.runtime.status import AccountState, StatusBoard
from zalogate.store import Store

__all__ = ["CONTENT_TYPE_LATEST", "TRACES_ENV", "GatewayMetrics", "message_tracer"]

log = logging.getLogger("zalogate.gateway")

TRACES_ENV = "ZALOGATE_OTEL_TRACES"
"""Set to 1 to open an OpenTelemetry span per message (needs ``opentelemetry-api``)."""

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_LABELS = ("channel", "account")

# ``*_created`` timestamps add a series per counter that dashboards do not use.
disable_created_metrics()  # type: ignore[no-untyped-call]

Handler = Callable[[InboundMessage], Awaitable[Any]]
CounterSource = Callable[[], object | None]
ReplyHook = Callable[[Turn, str], None]


class _Totals(Collector):
    """Reads the running totals, account states and inbox depth at scrape time."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        for prefix, source in (("pipeline", m.pipeline_counters), ("inbox", m.inbox_counters)):
            counters = source()
            if counters is None or not dataclasses.is_dataclass(counters):
                continue
            for field in dataclasses.fields(counters):
                value = getattr(counters, field.name)
                if isinstance(value, int):
                    name = f"zalogate_{prefix}_{field.name}"
                    help_text = f"{prefix} running total: {field.name.replace('_', ' ')}"
                    yield CounterMetricFamily(name, help_text, value=value)
        states = GaugeMetricFamily(
            "zalogate_account_state",
            "1 for the state each account is in",
            labels=[*_LABELS, "state"],
        )
        restarts = CounterMetricFamily(
            "zalogate_account_restarts",
            "monitor restarts (reconnects after a failure) per account",
            labels=list(_LABELS),
        )
        reconnects = CounterMetricFamily(
            "zalogate_account_reconnects",
            "connections a running monitor re-established by itself per account",
            labels=list(_LABELS),
        )
        for record in m.status.snapshot():
            for state in AccountState:
                states.add_metric(
                    [record.channel, record.account, state.value],
                    1.0 if record.state is state else 0.0,
                )
            restarts.add_metric([record.channel, record.account], record.restarts)
            reconnects.add_metric([record.channel, record.account], record.reconnects)
        yield states
        yield restarts
        yield reconnects
        depth = GaugeMetricFamily(
            "zalogate_inbox_depth", "inbox entries by state", labels=["state"]
        )
        for name, count in sorted(m.inbox_states.items()):
            depth.add_metric([name], count)
        yield depth
        yield GaugeMetricFamily(
            "zalogate_dead_letters", "dead-lettered messages in the store", value=m.dead_letters
        )
        yield from _channel_counters(m.channels())


_COUNTER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _channel_counters(channels: Mapping[str, Channel]) -> Iterable[Metric]:
    """Each channel's :meth:`~Channel.account_counters`, one series per counter name."""
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
    for channel_id, channel in channels.items():
        for account in channel.accounts():
            if not account.enabled:
                continue
            try:
                counters = channel.account_counters(account)
            except Exception:  # a broken channel must not break the scrape
                log.exception("channel %s failed to report its counters", channel_id)
                continue
            for counter in counters:
                if not _COUNTER_NAME.match(counter.name) or counter.name.endswith("_total"):
                    continue
                family = families.get(counter.name)
                if family is None:
                    name = f"zalogate_channel_{counter.name}"
                    kind = CounterMetricFamily if counter.kind == "counter" else GaugeMetricFamily
                    family = families[counter.name] = kind(
                        name, counter.help or counter.name.replace("_", " "), labels=list(_LABELS)
                    )
                family.add_metric([channel_id, account.account_id], counter.value)
    return families.values()


class GatewayMetrics:
    """The gateway's Prometheus registry and the hooks that feed it.

    Args:
        status: The status board (account states; admitted/sent stamps).
        store: Read at scrape time for the inbox depth and dead letters.
        pipeline_counters: Returns the pipeline's ``PipelineCounters`` (or None).
        inbox_counters: Returns the inbox's ``InboxCounters`` (or None).
        channels: Returns the running channels (their ``account_counters``).
    """

    def __init__(
        self,
        status: StatusBoard,
        *,
        store: Store | None = None,
        pipeline_counters: CounterSource = lambda: None,
        inbox_counters: CounterSource = lambda: None,
        channels: Callable[[], Mapping[str, Channel]] = dict,
    ) -> None:
        self.status = status
        self.store = store
        self.pipeline_counters = pipeline_counters
        self.inbox_counters = inbox_counters
        self.channels = channels
        self.inbox_states: dict[str, int] = {}
        self.dead_letters = 0
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.received = Counter(
            "zalogate_messages_received",
            "messages channels offered to the inbox (duplicates included)",
            _LABELS,
            registry=r,
        )
        self.admitted = Counter(
            "zalogate_messages_admitted", "messages admitted to the inbox", _LABELS, registry=r
        )
        self.processed = Counter(
            "zalogate_messages_processed", "messages the pipeline finished", _LABELS, registry=r
        )
        self.failed = Counter(
            "zalogate_messages_failed", "pipeline attempts that raised", _LABELS, registry=r
        )
        self.sent = Counter("zalogate_messages_sent", "messages sent out", _LABELS, registry=r)
        self.end_to_end = Histogram(
            "zalogate_end_to_end_seconds",
            "from the message's timestamp to the end of its processing",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.agent_seconds = Histogram(
            "zalogate_agent_seconds",
            "one agent turn, from the call to its first payload (or its end)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        r.register(_Totals(self))
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self._accounts: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def _account(self, channel: str, account: str) -> tuple[Any, Any, Any]:
        """The received/admitted/sent children of one account (``labels()`` takes a lock)."""
        key = (channel, account)
        found = self._accounts.get(key)
        if found is None:
            found = self._accounts[key] = (
                self.received.labels(*key),
                self.admitted.labels(*key),
                self.sent.labels(*key),
            )
        return found

    def count_admission(self, channel: str, account: str, *, duplicate: bool) -> None:
        """One message offered to the inbox (admitted unless it was a duplicate)."""
        received, admitted, _ = self._account(channel, account)
        received.inc()
        if not duplicate:
            admitted.inc()

    def count_sent(self, channel: str, account: str) -> None:
        """One message (chunk) went out through an account."""
        self._account(channel, account)[2].inc()

    def timed(self, handler: Handler, *, tracer: Any = None) -> Handler:
        """``handler`` counting processed messages per account and their end-to-end time;
        with a ``tracer`` (OpenTelemetry), each message also runs in a span."""
        # The labelled children, looked up once per account (``labels()`` takes a lock).
        children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        metrics = self

        def series(message: InboundMessage) -> tuple[Any, Any, Any]:
            key = (message.channel, message.account_id)
            found = children.get(key)
            if found is None:
                found = children[key] = (
                    metrics.processed.labels(*key),
                    metrics.failed.labels(*key),
                    metrics.end_to_end.labels(message.channel),
                )
            return found

        async def handle(message: InboundMessage) -> Any:
            processed, failed, end_to_end = series(message)
            if tracer is None:
                try:
                    result = await handler(message)
                except BaseException:
                    failed.inc()
                    raise
            else:
                try:
                    with tracer.start_as_current_span(
                        "zalogate.message",
                        attributes={
                            "zalogate.channel": message.channel,
                            "zalogate.account": message.account_id,
                            "zalogate.chat_type": str(message.chat_type.value),
                        },
                    ):
                        result = await handler(message)
                except BaseException:
                    failed.inc()
                    raise
            processed.inc()
            if message.timestamp_ms > 0:
                end_to_end.observe(max(0.0, time.time() - message.timestamp_ms / 1000))
            return result

        return handle

    def timed_agent(self, agent: Any, *, on_reply: ReplyHook | None = None) -> Any:
        """``agent`` with each turn timed; ``on_reply`` also sees each text payload (the
        console's transcript), in the same wrapper."""
        return _TimedAgent(agent, self.agent_seconds, on_reply)

    def add_collector(
        self, collector: Collector, *, refresh: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """More series (cluster mode's); ``refresh`` runs before each scrape."""
        self.registry.register(collector)
        if refresh is not None:
            self._refreshers.append(refresh)

    async def refresh(self) -> None:
        """Read the inbox depth and dead letters from the store (before a scrape)."""
        for refresh in self._refreshers:
            await refresh()
        if self.store is None or self.store.closed:
            return
        rows = await self.store.fetchall(
            "SELECT state, COUNT(*) AS n FROM inbox_entries WHERE state != 'done' GROUP BY state"
        )
        self.inbox_states = {str(row["state"]): int(row["n"]) for row in rows}
        self.inbox_states.setdefault("pending", 0)
        row = await self.store.fetchone("SELECT COUNT(*) AS n FROM inbox_dead_letters")
        self.dead_letters = int(row["n"]) if row is not None else 0

    async def exposition(self) -> bytes:
        """The Prometheus text format of every series."""
        await self.refresh()
        return generate_latest(self.registry)


def message_tracer(env: dict[str, str] | None = None) -> Any:
    """The OpenTelemetry tracer for message spans when ``$ZALOGATE_OTEL_TRACES=1`` and
    ``opentelemetry-api`` is installed; else None (traces are off by default)."""
    source = os.environ if env is None else env
    if source.get(TRACES_ENV, "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("zalogate")


class _TimedAgent:
    """An agent proxy that times ``respond``."""

    def __init__(self, agent: Any, histogram: Histogram, on_reply: ReplyHook | None) -> None:
        self._agent = agent
        self._histogram = histogram
        self._on_reply = on_reply

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        started = time.perf_counter()
        timed = False
        on_reply = self._on_reply
        try:
            async for payload in self._agent.respond(turn):
                if not timed:
                    timed = True  # the sends that follow are not the agent's time
                    self._histogram.observe(time.perf_counter() - started)
                if on_reply is not None and payload.text:
                    on_reply(turn, payload.text)
                yield payload
        finally:
            if not timed:
                self._histogram.observe(time.perf_counter() - started)


def series_names(exposition: bytes) -> Sequence[str]:
    """The sample names in an exposition (for checks and tests)."""
    from prometheus_client.parser import text_string_to_metric_families

    names: list[str] = []
    for family in text_string_to_metric_families(exposition.decode("utf-8")):
        names.extend(sample.name for sample in family.samples)
    return names
