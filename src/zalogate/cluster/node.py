"""One gateway node in a cluster: its NATS connection, leases, inbox and heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from nats.aio.client import Client

from zalogate.cluster.claims import Claims
from zalogate.cluster.connection import (
    Handles,
    connect,
    connected_server,
    default_node_id,
    ensure_layout,
    settle,
)
from zalogate.cluster.console_notices import KvNotices
from zalogate.cluster.console_state import (
    RELOAD_EVERY_S,
    ChangeFeed,
    KvAccessOverlayStore,
    KvSessionStore,
)
from zalogate.cluster.conversation_journal import (
    StreamConversationJournal,
    open_conversation_journal,
)
from zalogate.cluster.delivery_records import SharedDeliveryLog
from zalogate.cluster.inbox import JetStreamInbox, JetStreamInboxConfig
from zalogate.cluster.layout import kv_key
from zalogate.cluster.leases import AccountLeases
from zalogate.cluster.login_links import KvUsedLinks
from zalogate.cluster.schedules import Startable, run_scheduler
from zalogate.cluster.session_owner import OwnerRoutedChannel
from zalogate.cluster.shared import (
    console_link_key,
    console_stores,
    shared_state,
    token_stores,
    transcript_store,
)
from zalogate.cluster.status import collect
from zalogate.cluster.tokens import KvTokenStores
from zalogate.cluster.transcripts import KvTranscriptStore
from zalogate.config.cluster import ClusterConfig
from zalogate.core.channel import Channel
from zalogate.core.ingress import Handler
from zalogate.core.outbox import DeliveryLog, Outbox
from zalogate.core.shared_state import SharedState
from zalogate.core.traits import traits_for
from zalogate.runtime.logging import register_secret

__all__ = ["ClusterNode"]

log = logging.getLogger("zalogate.cluster")


class ClusterNode:
    """``async with ClusterNode(settings) as node``: connected, layout ensured, heartbeating.

    ``node.leases`` is the supervisor's lease gate, ``node.inbox(store, handler)`` the inbox
    factory, ``node.shared`` the state every node agrees on (pairing, allow store,
    takeover); ``node.http_url`` is shown by ``cluster status`` once set.
    """

    def __init__(self, settings: ClusterConfig, *, node_id: str | None = None) -> None:
        self.settings = settings
        self.node_id = node_id or settings.node_id or default_node_id()
        self.http_url = ""
        self._client: Client | None = None
        self._handles: Handles | None = None
        self._leases: AccountLeases | None = None
        self._shared: SharedState | None = None
        self.transcripts: KvTranscriptStore | None = None
        """The agents' transcripts, shared by every node (set once started)."""
        self.token_stores: KvTokenStores | None = None
        """The OAuth grants (OA tokens), shared by every node (set once started)."""
        self._console: tuple[KvAccessOverlayStore, KvSessionStore] | None = None
        self.link_key = ""
        """The key every node signs and checks console login links with (set once started)."""
        self._feeds: list[ChangeFeed] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._started_at = int(time.time() * 1000)
        self.incarnation = secrets.token_hex(6)
        """This run of the node: a claim of an earlier run under the same id is not its own."""
        self._claims: Claims | None = None
        self.inboxes: list[JetStreamInbox] = []
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self._scheduler: tuple[asyncio.Task[None], asyncio.Event] | None = None

    @property
    def handles(self) -> Handles:
        if self._handles is None:
            raise RuntimeError("the cluster node is not started")
        return self._handles

    @property
    def leases(self) -> AccountLeases:
        if self._leases is None:
            raise RuntimeError("the cluster node is not started")
        return self._leases

    @property
    def shared(self) -> SharedState:
        if self._shared is None:
            raise RuntimeError("the cluster node is not started")
        return self._shared

    @property
    def access_store(self) -> KvAccessOverlayStore:
        """The console's allowlist edits, shared by every node."""
        if self._console is None:
            raise RuntimeError("the cluster node is not started")
        return self._console[0]

    @property
    def sessions(self) -> KvSessionStore:
        """The console's sessions, shared by every node."""
        if self._console is None:
            raise RuntimeError("the cluster node is not started")
        return self._console[1]

    @property
    def login_links(self) -> KvUsedLinks:
        """The console's used login links, shared by every node."""
        return KvUsedLinks(self.sessions.bucket.kv)

    @property
    def console_notices(self) -> KvNotices:
        """The console's notices after an action, kept with the session (shared)."""
        return KvNotices(self.sessions.bucket.kv)

    async def conversation_journal(self, *, keep_days: float) -> StreamConversationJournal:
        """The console's conversation journal every node writes and reads (lines kept
        ``keep_days``)."""
        settings = self.settings
        js = self.handles.js
        return await open_conversation_journal(js, settings.prefix, settings.replicas, keep_days)

    async def follow_access(
        self, reload: Callable[[], Awaitable[None]], *, every: float = RELOAD_EVERY_S
    ) -> None:
        """Run ``reload`` when any node changes an allowlist, after a reconnect and every
        ``every`` seconds (until the node leaves)."""
        feed = ChangeFeed(
            self.handles.client, self.handles.layout.access_subject, reload, every=every
        )
        await feed.start()
        self._feeds.append(feed)

    async def _reconnected(self) -> None:
        log.info("cluster node %s reconnected to NATS", self.node_id)
        for feed in self._feeds:
            feed.poke()

    async def __aenter__(self) -> ClusterNode:
        client = self._client = await connect(
            self.settings, name=f"zalogate:{self.node_id}", reconnected=self._reconnected
        )
        try:
            self._handles = await ensure_layout(client, self.settings)
            self._shared = await shared_state(self._handles.js, self.settings)
            self._console = await console_stores(client, self._handles.js, self.settings)
            self.transcripts = await transcript_store(self._handles.js, self.settings)
            self.link_key = await console_link_key(self._handles.js, self.settings)
            register_secret(self.link_key)
            self.token_stores = await token_stores(self._handles.js, self.settings)
        except BaseException:
            await client.close()
            raise
        self._claims = Claims(
            self._handles.claims,
            self._handles.nodes,
            self.node_id,
            self.incarnation,
            stale_after=max(60.0, 6 * self.settings.lease_ttl_seconds),
        )
        self._leases = AccountLeases(
            self._handles.leases,
            self.node_id,
            self.settings.lease_ttl_seconds,
            nodes=self._handles.nodes,
        )
        try:
            await settle(self._beat)  # a bucket just created answers once its leader is elected
        except BaseException:
            await client.close()
            raise
        self._heartbeat = asyncio.create_task(self._beat_forever(), name="cluster-heartbeat")
        log.info("cluster node %s joined (NATS %s)", self.node_id, connected_server(client))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_scheduler()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for feed in self._feeds:
            await feed.aclose()
        self._feeds.clear()
        if self._handles is not None:
            with contextlib.suppress(Exception):
                await self._handles.nodes.delete(kv_key("node", self.node_id))
        if self._client is not None:
            # close, not drain: acks are confirmed one by one already, and a drain waits for
            # the pull requests still parked at the servers (up to its 30 s timeout).
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None

    @property
    def claims(self) -> Claims:
        """This node's claims of inbox messages (and their reply chunks' outcomes)."""
        if self._claims is None:
            raise RuntimeError("the cluster node is not started")
        return self._claims

    def delivery_log(self, local: Outbox) -> DeliveryLog:
        """The pipeline's delivery log: ``local`` and the claims, shared by every node."""
        return SharedDeliveryLog(local, self.claims)

    def inbox(self, store: Any, handler: Handler) -> JetStreamInbox:
        """The inbox factory (``Gateway(inbox_factory=...)``); the store stays per node."""
        settings = self.settings
        inbox = JetStreamInbox(
            self.handles,
            handler,
            claims=self.claims,
            config=JetStreamInboxConfig(
                max_concurrency=settings.max_concurrency,
                max_attempts=settings.max_attempts,
                ack_wait=settings.lease_ttl_seconds,
            ),
        )
        self.inboxes.append(inbox)
        return inbox

    def start_scheduler(self, scheduler: Startable, *, since_ms: int) -> None:
        """Run ``scheduler`` whenever this node holds the scheduler lease (one node of the
        cluster at a time; a lease of its own, outside the account spreading)."""
        settings = self.settings
        leases = AccountLeases(self.handles.leases, self.node_id, settings.lease_ttl_seconds)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_scheduler(leases, scheduler, stop, since_ms=since_ms), name="cluster-scheduler"
        )
        self._scheduler = (task, stop)

    async def stop_scheduler(self) -> None:
        """Stop the scheduler and give its lease back (another node takes it at once)."""
        running, self._scheduler = self._scheduler, None
        if running is not None:
            task, stop = running
            stop.set()
            with contextlib.suppress(Exception):
                await task

    def route_sends(self, channel: Channel) -> Channel:
        """``channel``, what acts from an account's session (sends, look-ups, agent tools)
        routed to the account's node when its traits ask for it."""
        if not traits_for(channel.id).sends_need_session_owner:
            return channel
        settings, handles = self.settings, self.handles
        return OwnerRoutedChannel(
            channel,
            handles.client,
            handles.layout,
            timeout=settings.send_timeout_seconds,
            lookup_timeout=settings.lookup_timeout_seconds,
        )

    async def snapshot(self, *, max_age: float = 2.0) -> dict[str, Any]:
        """What ``cluster status`` shows, read through this node's connection; reused for
        ``max_age`` seconds (a scrape and a console page need no fresher view).

        Raises:
            ClusterUnavailableError, TimeoutError: NATS did not answer in time.
        """
        now = time.monotonic()
        if self._snapshot is not None and now - self._snapshot[0] < max_age:
            return self._snapshot[1]
        async with asyncio.timeout(5.0):
            data = await collect(self.handles.client, self.settings)
        self._snapshot = (now, data)
        return data

    def instrument(self, metrics: Any) -> None:
        """Add the ``zalogate_cluster_*`` series to the gateway's ``metrics``."""
        from zalogate.cluster.metrics import ClusterCollector

        collector = ClusterCollector(self)
        metrics.add_collector(collector, refresh=collector.refresh)

    def describe(self) -> dict[str, Any]:
        """This node's heartbeat record."""
        processed = sum(inbox.processed for inbox in self.inboxes)
        return {
            "node": self.node_id,
            "url": self.http_url,
            "started_at": self._started_at,
            "incarnation": self.incarnation,
            "seen_at": int(time.time() * 1000),
            "leases": sorted("/".join(key) for key in self.leases.held),
            "processed": processed,
        }

    async def _beat(self) -> None:
        await self.handles.nodes.put(
            kv_key("node", self.node_id), json.dumps(self.describe()).encode()
        )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl_seconds / 3)
            try:
                await self._beat()
            except Exception as exc:
                log.debug("cluster heartbeat: %s", exc)
