"""What ``zalogate cluster status`` shows: nodes, leases, the inbox stream and its consumers.

Read from NATS only (any node's view is the cluster's): nodes from their heartbeats, leases
from the lease bucket, the stream's replicas and their lag, and per partition consumer the
messages waiting (``pending``), in work (``in_flight``) and redelivered.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from zalogate.cluster.connection import ClusterUnavailableError, connect, connected_server
from zalogate.cluster.layout import Layout
from zalogate.cluster.schedules import SCHEDULER_LEASE_KEY
from zalogate.config.cluster import ClusterConfig

__all__ = ["cluster_status", "collect"]


async def cluster_status(settings: ClusterConfig) -> dict[str, Any]:
    """The cluster's state as JSON-able data (see the module docstring).

    Raises:
        ClusterUnavailableError: NATS cannot be reached, or no node ever created the cluster.
    """
    client = await connect(settings, name="zalogate:status")
    try:
        return await collect(client, settings)
    finally:
        await client.close()


async def collect(client: Client, settings: ClusterConfig) -> dict[str, Any]:
    """:func:`cluster_status` through an open connection (a node's own, for its metrics and
    its console page)."""
    layout = Layout(settings.prefix, settings.partitions)
    js = client.jetstream(timeout=5.0)
    try:
        stream = await js.stream_info(layout.inbox_stream)
    except NotFoundError:
        raise ClusterUnavailableError(
            f"no cluster {settings.prefix!r} in NATS yet: start a node with"
            " `zalogate gateway run` (it creates the streams)"
        ) from None
    nodes = await _entries(js, layout.node_bucket)
    leases = await _entries(js, layout.lease_bucket)
    consumers: list[dict[str, Any]] = []
    for info in await js.consumers_info(layout.inbox_stream):
        consumers.append(
            {
                "name": info.name,
                "pending": info.num_pending or 0,
                "in_flight": info.num_ack_pending or 0,
                "redelivered": info.num_redelivered or 0,
                "waiting_pulls": info.num_waiting or 0,
            }
        )
    consumers.sort(key=lambda c: (-int(c["pending"]), str(c["name"])))
    dead = 0
    with contextlib.suppress(NotFoundError):
        dead = (await js.stream_info(layout.dead_stream)).state.messages
    cluster = stream.cluster
    replicas = []
    if cluster is not None:
        replicas.append({"server": cluster.leader, "leader": True, "current": True, "lag": 0})
        for peer in cluster.replicas or []:
            replicas.append(
                {
                    "server": peer.name,
                    "leader": False,
                    "current": bool(peer.current),
                    "offline": bool(peer.offline),
                    "lag": peer.lag or 0,
                }
            )
    return {
        "prefix": settings.prefix,
        "connected_to": connected_server(client),
        "nodes": [json.loads(value) for value in nodes.values()],
        "leases": [
            {"account": key.removeprefix("account."), "node": value}
            for key, value in sorted(leases.items())
            if key.startswith("account.")
        ],
        "scheduler": leases.get(SCHEDULER_LEASE_KEY),
        "inbox": {
            "stream": layout.inbox_stream,
            "messages": stream.state.messages,
            "last_seq": stream.state.last_seq,
            "replicas": replicas,
            "pending": sum(c["pending"] for c in consumers),
            "in_flight": sum(c["in_flight"] for c in consumers),
            "dead_letters": dead,
        },
        "consumers": consumers,
    }


async def _entries(js: JetStreamContext, bucket: str) -> dict[str, str]:
    """Every live key of ``bucket`` with its value (empty when the bucket does not exist).

    Asked of the stream leader — the subjects from ``STREAM.INFO``, each value with a
    non-direct ``get_last_msg`` — not through nats-py's ``KeyValue.keys()`` watcher (which
    may say "no keys" before handing out one written a moment ago) and direct gets (which a
    lagging replica may answer): a heartbeat or lease written just before is listed.

    Raises:
        ConnectionError: NATS did not answer the listing, three times.
    """
    stream, prefix = f"KV_{bucket}", f"$KV.{bucket}."
    for attempt in range(3):
        try:
            info = await js.stream_info(stream, subjects_filter=f"{prefix}>")
            break
        except NotFoundError:
            return {}
        except Exception as exc:  # a busy server: ask again
            if attempt == 2:
                raise ConnectionError(f"NATS did not list {bucket} ({exc}); try again") from None
    found: dict[str, str] = {}
    for subject in sorted(info.state.subjects or {}):
        try:
            msg = await js.get_last_msg(stream, subject)
        except NotFoundError:  # expired between the listing and the read
            continue
        operation = (msg.headers or {}).get("KV-Operation")
        if operation in ("DEL", "PURGE") or not msg.data:
            continue
        found[subject[len(prefix) :]] = msg.data.decode(errors="replace")
    return found
