"""The cluster's shared state: the KV buckets behind the store interfaces of
:class:`~zalogate.core.shared_state.SharedState`, for gateway nodes and for the CLI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig

from zalogate.cluster.connection import ClusterUnavailableError, connect, settle
from zalogate.cluster.console_state import KvAccessOverlayStore, KvSessionStore
from zalogate.cluster.contacts import CONTACT_MAX_AGE_SECONDS, KvContactTimes
from zalogate.cluster.documents import Bucket
from zalogate.cluster.history import HISTORY_MAX_AGE_SECONDS, KvGroupHistory
from zalogate.cluster.layout import Layout
from zalogate.cluster.login_links import link_key
from zalogate.cluster.move_log import KvMoveLog
from zalogate.cluster.pairing import KvPairingStore
from zalogate.cluster.schedules import KvScheduleStore
from zalogate.cluster.takeover import KvTakeoverState
from zalogate.cluster.tokens import KvTokenStores
from zalogate.cluster.transcripts import KvTranscriptStore
from zalogate.cluster.vault import KvSessionVault
from zalogate.config.cluster import ClusterConfig
from zalogate.core.access import AccessOverlay
from zalogate.core.shared_state import SharedState
from zalogate.core.state_transfer import StateSinks

__all__ = [
    "console_link_key",
    "console_stores",
    "load_link_key",
    "load_overlays",
    "open_shared_state",
    "open_state_sinks",
    "shared_state",
    "token_stores",
    "transcript_store",
]


async def _bucket(
    js: JetStreamContext, settings: ClusterConfig, name: str, max_age: float | None = None
) -> Bucket:
    config = KeyValueConfig(bucket=name, history=1, replicas=settings.replicas, ttl=max_age)
    try:
        return Bucket(await settle(lambda: js.create_key_value(config)), js, name)
    except Exception as exc:
        raise ClusterUnavailableError(
            f"NATS refused the cluster's bucket {name} ({type(exc).__name__}); run the"
            " servers with JetStream on (-js) and gateway.cluster.replicas at most their number"
        ) from None


async def shared_state(js: JetStreamContext, settings: ClusterConfig) -> SharedState:
    """Create (or find) the pairing, takeover, group-history, schedule and contact buckets
    (history 1; no TTL but on the group history and the contact times: requests expire by
    their own clock, allow entries, pauses and schedules stay until removed)."""
    layout = Layout(settings.prefix, settings.partitions)
    contacts = await _bucket(js, settings, layout.contact_bucket, CONTACT_MAX_AGE_SECONDS)
    sessions = None
    if settings.session_key is not None:
        vault = await _bucket(js, settings, layout.vault_bucket)
        sessions = KvSessionVault(vault.kv, settings.session_key.get_secret_value())
    return SharedState(
        *await _kv_shared(js, settings), contacts=KvContactTimes(contacts.kv), sessions=sessions
    )


async def _kv_shared(
    js: JetStreamContext, settings: ClusterConfig
) -> tuple[KvPairingStore, KvTakeoverState, KvGroupHistory, KvScheduleStore]:
    layout = Layout(settings.prefix, settings.partitions)
    pairing = await _bucket(js, settings, layout.pairing_bucket)
    takeover = await _bucket(js, settings, layout.takeover_bucket)
    history = await _bucket(js, settings, layout.history_bucket, HISTORY_MAX_AGE_SECONDS)
    schedules = await _bucket(js, settings, layout.schedule_bucket)
    return (
        KvPairingStore(pairing),
        KvTakeoverState(takeover),
        KvGroupHistory(history.kv),
        KvScheduleStore(schedules),
    )


async def transcript_store(js: JetStreamContext, settings: ClusterConfig) -> KvTranscriptStore:
    """The agents' transcripts (kept apart from :class:`SharedState`: the agents layer owns
    them)."""
    layout = Layout(settings.prefix, settings.partitions)
    return KvTranscriptStore((await _bucket(js, settings, layout.transcript_bucket)).kv)


async def token_stores(js: JetStreamContext, settings: ClusterConfig) -> KvTokenStores:
    """The OAuth grants every node shares (encrypted values; no TTL)."""
    layout = Layout(settings.prefix, settings.partitions)
    return KvTokenStores((await _bucket(js, settings, layout.grant_bucket)).kv)


async def console_stores(
    client: Client, js: JetStreamContext, settings: ClusterConfig
) -> tuple[KvAccessOverlayStore, KvSessionStore]:
    """The console's allowlist edits (each change announced on the layout's access subject)
    and its sessions (a bucket whose max age is the session lifetime)."""
    from zalogate.console.auth import SESSION_TTL_S

    layout = Layout(settings.prefix, settings.partitions)
    access = await _bucket(js, settings, layout.access_bucket)
    sessions = await _bucket(js, settings, layout.session_bucket, SESSION_TTL_S)

    async def announce() -> None:
        await client.publish(layout.access_subject, b"")

    return KvAccessOverlayStore(access, announce), KvSessionStore(sessions)


async def console_link_key(js: JetStreamContext, settings: ClusterConfig) -> str:
    """The key every node signs and checks console login links with (created on first use)."""
    layout = Layout(settings.prefix, settings.partitions)
    bucket = await _bucket(js, settings, layout.console_bucket)
    return await settle(lambda: link_key(bucket.kv))


async def load_link_key(settings: ClusterConfig, *, name: str) -> str:
    """The console's link key, read on a connection of its own (``zalogate console``)."""
    client = await connect(settings, name=name)
    try:
        return await console_link_key(client.jetstream(timeout=10.0), settings)
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def open_shared_state(settings: ClusterConfig, *, name: str) -> AsyncIterator[SharedState]:
    """A connection of its own for a one-off command (``zalogate pairing approve``)."""
    client = await connect(settings, name=name)
    try:
        yield await shared_state(client.jetstream(timeout=10.0), settings)
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def open_state_sinks(
    settings: ClusterConfig, *, name: str, source: str
) -> AsyncIterator[StateSinks]:
    """The buckets a node's state (named by ``source``) moves into (``zalogate cluster
    import-state``), on a connection of its own; an imported allowlist edit is announced to
    running nodes."""
    client = await connect(settings, name=name)
    try:
        js = client.jetstream(timeout=10.0)
        pairing, takeover, _, schedules = await _kv_shared(js, settings)
        access, _ = await console_stores(client, js, settings)
        transcripts = await transcript_store(js, settings)
        layout = Layout(settings.prefix, settings.partitions)
        log = KvMoveLog((await _bucket(js, settings, layout.import_bucket)).kv, source)
        yield StateSinks(pairing, access, schedules, transcripts, takeover, log)
    finally:
        await client.close()


async def load_overlays(
    settings: ClusterConfig, *, name: str
) -> Mapping[tuple[str, str], AccessOverlay]:
    """The console's allowlist edits, read on a connection of its own (``config show``)."""
    client = await connect(settings, name=name)
    try:
        access, _ = await console_stores(client, client.jetstream(timeout=10.0), settings)
        return await access.load_all()
    finally:
        await client.close()
