"""Connecting a node to NATS, and creating the streams and buckets it needs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from zalogate.cluster.layout import Layout
from zalogate.config.cluster import ClusterConfig

__all__ = [
    "ClusterUnavailableError",
    "Handles",
    "connect",
    "connected_server",
    "default_node_id",
    "ensure_layout",
    "settle",
]

T = TypeVar("T")

log = logging.getLogger("zalogate.cluster")


class ClusterUnavailableError(ConnectionError):
    """NATS cannot be reached, or refuses what the cluster needs (JetStream off, auth)."""


def default_node_id() -> str:
    """Host name and process id: unique per running node, readable in ``cluster status``."""
    return f"{socket.gethostname()}-{os.getpid()}"


def connected_server(client: Client) -> str | None:
    """``host:port`` of the server ``client`` is connected to, never its ``user:password@``
    (for logs, ``cluster status`` and the console)."""
    url = client.connected_url
    if url is None or url.hostname is None:
        return None
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{host}:{url.port}" if url.port is not None else host


async def connect(
    settings: ClusterConfig, *, name: str, reconnected: Callable[[], Awaitable[None]] | None = None
) -> Client:
    """A connection to the configured servers that reconnects for ever (and then calls
    ``reconnected``).

    Raises:
        ClusterUnavailableError: No server answered within the connect timeout.
    """
    nats_settings = settings.nats
    options: dict[str, Any] = {
        "servers": nats_settings.servers,
        "name": name,
        "connect_timeout": nats_settings.connect_timeout_seconds,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "allow_reconnect": True,
    }
    if reconnected is not None:
        options["reconnected_cb"] = reconnected
    if nats_settings.credentials:
        creds = Path(nats_settings.credentials).expanduser()  # noqa: ASYNC240 - at start-up
        if not creds.is_file():
            raise ClusterUnavailableError(
                f"gateway.cluster.nats.credentials: no file {creds}; write the path of the"
                " node's .creds file"
            )
        options["user_credentials"] = str(creds)
    if nats_settings.user:
        options["user"] = nats_settings.user
    if nats_settings.password is not None:
        options["password"] = nats_settings.password.get_secret_value()
    if nats_settings.token is not None:
        options["token"] = nats_settings.token.get_secret_value()

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", type(exc).__name__ if not str(exc) else exc)

    # nats-py's first connect also retries for ever with max_reconnect_attempts=-1: bound it,
    # so that a wrong URL or stopped servers fail the start with one line.
    limit = nats_settings.connect_timeout_seconds * (len(nats_settings.servers) + 1)
    try:
        async with asyncio.timeout(limit):
            return await nats.connect(error_cb=on_error, **options)
    except Exception as exc:
        raise ClusterUnavailableError(
            f"cannot connect to NATS at {nats_settings.shown_servers()}"
            f" ({type(exc).__name__}); start the NATS servers or fix gateway.cluster.nats.servers"
        ) from None


async def settle(operation: Callable[[], Awaitable[T]], *, within: float = 30.0) -> T:
    """Run a JetStream admin ``operation``, again while the cluster is still electing leaders
    (a stream created a moment ago by another node answers "no response" for a while)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await operation()
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise
            log.debug("JetStream not ready yet: %s", _describe(exc))
            await asyncio.sleep(0.5)


@dataclass(frozen=True, slots=True)
class Handles:
    """The connection, its JetStream context and the KV buckets of one cluster."""

    client: Client
    js: JetStreamContext
    layout: Layout
    leases: KeyValue
    nodes: KeyValue
    claims: KeyValue
    """Inbox messages claimed, run or done (key: stream sequence), kept for the dedupe window
    (:mod:`zalogate.cluster.claims`)."""


async def ensure_layout(client: Client, settings: ClusterConfig) -> Handles:
    """Create (or find) the inbox and dead-letter streams and the lease, node and claim buckets.

    Creating what exists with the same settings is a no-op, so every node runs this at start.
    """
    layout = Layout(settings.prefix, settings.partitions)
    js = client.jetstream(timeout=10.0)
    ttl = settings.lease_ttl_seconds
    replicas = settings.replicas
    inbox, dead = _streams(layout, settings)
    try:
        await settle(lambda: js.add_stream(inbox))
        await settle(lambda: js.add_stream(dead))
        leases = await settle(
            lambda: js.create_key_value(
                KeyValueConfig(bucket=layout.lease_bucket, ttl=ttl, history=1, replicas=replicas)
            )
        )
        nodes = await settle(
            lambda: js.create_key_value(
                KeyValueConfig(bucket=layout.node_bucket, ttl=ttl, history=1, replicas=replicas)
            )
        )
        claims = await settle(
            lambda: js.create_key_value(
                KeyValueConfig(
                    bucket=layout.claim_bucket,
                    ttl=settings.dedupe_window_seconds,
                    history=1,
                    replicas=replicas,
                )
            )
        )
    except Exception as exc:
        raise ClusterUnavailableError(
            f"NATS refused the cluster's streams or buckets ({_describe(exc)}); run the"
            " servers with JetStream on (-js) and gateway.cluster.replicas at most their number"
        ) from None
    return Handles(client, js, layout, leases, nodes, claims)


def _streams(layout: Layout, settings: ClusterConfig) -> tuple[StreamConfig, StreamConfig]:
    """The inbox stream and the dead-letter stream."""
    inbox = StreamConfig(
        name=layout.inbox_stream,
        subjects=[layout.inbox_subject("*")],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        duplicate_window=settings.dedupe_window_seconds,
        max_age=7 * 86400.0,
        discard=DiscardPolicy.OLD,
    )
    dead = StreamConfig(
        name=layout.dead_stream,
        subjects=[f"{settings.prefix}.dead.>"],
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        max_age=30 * 86400.0,
        max_msgs=5000,
    )
    return inbox, dead


def _describe(exc: BaseException) -> str:
    description = getattr(exc, "description", None)
    return str(description or exc or type(exc).__name__)
