"""The ``zalogate_cluster_*`` Prometheus series of one node (on its ``/metrics``).

This node's own facts carry a ``node`` label (its id): leases held, messages processed. The
cluster's, read through the node's NATS connection when Prometheus scrapes (the data of
``zalogate cluster status``): live nodes, leases per holder, the inbox stream, its consumers'
backlog and its replicas' lag. ``zalogate_cluster_up`` is 0 when NATS did not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from zalogate.cluster.node import ClusterNode

__all__ = ["ClusterCollector"]

log = logging.getLogger("zalogate.cluster")


class ClusterCollector(Collector):
    """Yields the cluster series from the last :meth:`refresh` (call it before a scrape)."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node
        self._last: dict[str, Any] | None = None

    async def refresh(self) -> None:
        try:
            self._last = await self._node.snapshot()
        except Exception as exc:  # the node's own series still come; cluster_up says 0
            log.debug("cluster metrics: %s", exc)
            self._last = None

    def collect(self) -> Iterable[Metric]:
        node = self._node
        me = [node.node_id]
        held = GaugeMetricFamily(
            "zalogate_cluster_leases_held", "account leases this node holds", labels=["node"]
        )
        held.add_metric(me, len(node.leases.held))
        yield held
        processed = CounterMetricFamily(
            "zalogate_cluster_processed",
            "inbox messages this node processed",
            labels=["node"],
        )
        processed.add_metric(me, sum(inbox.processed for inbox in node.inboxes))
        yield processed
        inboxes = node.inboxes
        in_work = GaugeMetricFamily(
            "zalogate_cluster_inbox_in_work", "inbox messages this node runs", labels=["node"]
        )
        in_work.add_metric(me, sum(inbox.in_work for inbox in inboxes))
        yield in_work
        waiting = GaugeMetricFamily(
            "zalogate_cluster_inbox_waiting",
            "inbox messages this node fetched that wait for a free slot",
            labels=["node"],
        )
        waiting.add_metric(me, sum(inbox.waiting for inbox in inboxes))
        yield waiting
        last = self._last
        up = GaugeMetricFamily(
            "zalogate_cluster_up", "1 when this node read the cluster's state", labels=["node"]
        )
        up.add_metric(me, 0.0 if last is None else 1.0)
        yield up
        if last is not None:
            yield from _cluster_series(last)


def _cluster_series(data: dict[str, Any]) -> Iterable[Metric]:
    """The cluster-wide series from :func:`zalogate.cluster.status.collect` data."""
    up = GaugeMetricFamily(
        "zalogate_cluster_node_up", "1 for each node with a live heartbeat", labels=["peer"]
    )
    for peer in data["nodes"]:
        up.add_metric([str(peer.get("node", ""))], 1.0)
    yield up
    by_holder: dict[str, int] = {}
    for lease in data["leases"]:
        holder = str(lease["node"])
        by_holder[holder] = by_holder.get(holder, 0) + 1
    leases = GaugeMetricFamily(
        "zalogate_cluster_leases", "account leases by holding node", labels=["holder"]
    )
    for holder, count in sorted(by_holder.items()):
        leases.add_metric([holder], count)
    yield leases
    inbox = data["inbox"]
    for key, help_text in (
        ("messages", "messages kept in the inbox stream"),
        ("pending", "inbox messages no node fetched yet (all partition consumers)"),
        ("in_flight", "inbox messages fetched and not acknowledged yet"),
        ("dead_letters", "messages in the dead-letter stream"),
    ):
        yield GaugeMetricFamily(f"zalogate_cluster_inbox_{key}", help_text, value=inbox[key])
    lag = GaugeMetricFamily(
        "zalogate_cluster_replica_lag",
        "operations an inbox stream replica is behind its leader",
        labels=["server"],
    )
    current = GaugeMetricFamily(
        "zalogate_cluster_replica_current",
        "1 when an inbox stream replica is current (0: behind or offline)",
        labels=["server"],
    )
    for replica in inbox["replicas"]:
        server = str(replica["server"])
        lag.add_metric([server], replica["lag"])
        current.add_metric([server], 1.0 if replica["current"] else 0.0)
    yield lag
    yield current
