"""What the gateway is built from: the default agent, pipeline (the inbox handler) and inbox,
and which channel plugins the config asks for.

The gateway takes each piece as a factory so that tests and embedders can swap one (a
scripted handler, a fake inbox) and keep the rest.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from zalogate.agents.services import AgentServices
from zalogate.agents.transcripts import TranscriptStore
from zalogate.config import ZalogateConfig
from zalogate.core.access import AccountPolicy
from zalogate.core.access_overlay import (
    EMPTY_OVERLAY,
    AccessOverlay,
    AccessOverlays,
    SqliteAccessOverlayStore,
)
from zalogate.core.agent import AgentTool
from zalogate.core.channel import Admitter, Channel, ChannelPlugin
from zalogate.core.conversation_journal import ConversationJournal, ConversationJournalLike
from zalogate.core.model import InboundMessage
from zalogate.core.outbox import OUTBOX_FILENAME, DeliveryLog, Outbox
from zalogate.core.pairing import normalize_account_id
from zalogate.core.shared_state import SharedState, local_state
from zalogate.core.state_transfer import StateSinks
from zalogate.core.takeover import Takeover, TakeoverState
from zalogate.core.traits import traits_for
from zalogate.runtime.status import StatusBoard, now_ms
from zalogate.store import Store

if TYPE_CHECKING:
    from zalogate.oa.tokens import TokenStores

__all__ = [
    "ChannelSource",
    "GatewayWiring",
    "Handler",
    "HandlerFactory",
    "InboxFactory",
    "InboxLike",
    "OneOffCluster",
    "channel_configured",
    "cluster_link_key",
    "cluster_one_off",
    "cluster_shared_state",
    "cluster_state_sinks",
    "configured_plugins",
    "default_agent",
    "default_handler",
    "default_inbox",
    "is_echo",
    "mount_deferred_replies",
    "open_access",
    "open_cluster",
    "open_takeover",
    "shared_state",
    "warn_echo",
]

log = logging.getLogger("zalogate.gateway")

Handler = Callable[[InboundMessage], Awaitable[Any]]
"""Processes one admitted message (the pipeline); the inbox calls it."""


class InboxLike(Admitter, Protocol):
    """What the gateway needs from the inbox (``zalogate.core.ingress.Inbox`` fits)."""

    def start(self) -> Any:
        """Start the workers (replaying unfinished entries); may be a coroutine."""
        ...

    def stop(self, timeout: float = ...) -> Any:
        """Stop the workers, waiting up to ``timeout`` seconds; may be a coroutine."""
        ...


@dataclass(slots=True)
class GatewayWiring:
    """What a handler (pipeline) factory gets: the pieces built so far.

    ``channels`` is filled with the channels right after the handler is built and before the
    inbox starts, so a handler may keep the mapping and look up the channel of each message
    by ``message.channel``.
    """

    config: Any
    state_dir: Path
    store: Store
    agent: Any
    status: StatusBoard
    channels: dict[str, Channel] = field(default_factory=dict)
    shared: SharedState | None = None
    """Pairing/allow store, takeover and group history (None: the SQLite ones on ``store``)."""
    transcripts: TranscriptStore | None = None
    """The agents' transcripts (None: the SQLite ones on ``store``)."""
    takeover: Takeover | None = None
    """Human takeover: the pipeline leaves paused conversations to the operator."""
    pipeline_counters: object | None = None
    """The default pipeline's running totals (for ``/metrics``)."""
    on_outbound: Callable[[str, str], None] | None = None
    """Also told of every reply that went out (``/metrics`` counts them)."""
    extra_tools: Callable[[InboundMessage], Sequence[AgentTool]] = lambda _message: ()
    """Tools the runtime offers besides the channel's (the ``schedule`` tool)."""
    wrap_agent: Callable[[Any], Any] = lambda agent: agent
    """Wraps the agent that answers a message (``/metrics`` times it, the console's transcript
    sees its replies); applied to each agent the bindings may pick, once."""
    access_overlay: Callable[[str, str], AccessOverlay] = lambda _c, _a: EMPTY_OVERLAY
    """``(channel, account_id)``: the console's allowlist edits, merged into each policy."""
    policies: dict[tuple[str, str], AccountPolicy] = field(default_factory=dict)
    """The policies the default pipeline built (for channels that build none)."""
    delivery_log: Callable[[Outbox], DeliveryLog] = lambda outbox: outbox
    """Where the pipeline notes chunk outcomes, given the node's outbox log (a cluster adds
    the shared records)."""

    def access_changed(self, channel_id: str, account_id: str) -> None:
        """An account's allowlists changed: drop its cached policy here and in its channel."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return
        for account in channel.accounts():
            if normalize_account_id(account.account_id) == normalize_account_id(account_id):
                self.policies.pop((channel_id, account.account_id), None)
                channel.access_changed(account)

    def record_outbound(self, channel: str, account_id: str) -> None:
        """Stamp the account's last outbound (a handler calls it after a reply went out)."""
        self.status.update(channel, account_id, last_outbound_at=now_ms())
        self.status.report(channel, account_id, "send", None)
        if self.on_outbound is not None:
            self.on_outbound(channel, account_id)

    def record_send_failure(self, channel: str, account_id: str, error: str) -> None:
        """A reply could not be sent: the account shows ``degraded`` until one goes out."""
        self.status.report(channel, account_id, "send", f"send failed: {error}")


HandlerFactory = Callable[[GatewayWiring], Handler]
InboxFactory = Callable[[Store, Handler], InboxLike]
ChannelSource = ChannelPlugin | Channel


def is_echo(agent: Any) -> bool:
    """True for the built-in echo agent (the gateway warns that it only repeats messages)."""
    for attr in ("id", "name", "kind"):
        if getattr(agent, attr, None) == "echo":
            return True
    return type(agent).__name__.lower().startswith("echo")


def default_agent(
    config: Any, store: Store, services: AgentServices | None = None, front: Any = None
) -> Any:
    """Every agent the config describes, behind the bindings' router
    (``zalogate.agents.factory.build_agents``); ``front``: ``gateway run --app`` handlers."""
    from zalogate.agents.factory import build_agents

    return build_agents(config, store, services=services, front=front)


def mount_deferred_replies(config: Any, services: AgentServices) -> None:
    """Serve ``/agents/<id>/replies/<token>`` when the config has an ``http`` agent."""
    from zalogate.agents.deferred import DEFERRED_PREFIX, deferred_reply_app
    from zalogate.agents.factory import http_secrets

    secrets = http_secrets(config)
    if secrets and services.routes is not None:
        app = deferred_reply_app(secrets, services)
        services.routes.mount(DEFERRED_PREFIX, app, name="agent replies")


def default_handler(wiring: GatewayWiring) -> Handler:
    """The core pipeline, with each account's policy, the channels' tools and the status
    board's last-outbound stamp on every delivered reply."""
    from zalogate.agents.routing import AgentRouter
    from zalogate.agents.transcripts import SqliteTranscriptStore
    from zalogate.core.access import policy_from_settings
    from zalogate.core.channel import ToolContext
    from zalogate.core.pipeline import Pipeline, SessionOptions

    config = _config_model(wiring.config)
    options = SessionOptions(
        dm_scope=config.session.dm_scope,
        main_key=config.session.main_key,
        identity_links=config.session.identity_links,
    )
    policies = wiring.policies

    def policy_for(message: InboundMessage) -> AccountPolicy:
        key = (message.channel, message.account_id)
        policy = policies.get(key)
        if policy is None:
            channel = wiring.channels[message.channel]
            account = channel.account(message.account_id)
            if account is None:
                raise LookupError(f"unknown account {message.channel}/{message.account_id}")
            own = channel.policy(account)
            if own is not None:
                # A channel that builds its own policy also decides when it may be cached:
                # zalouser's changes once the monitor has resolved names to ids.
                return own
            policy = policy_from_settings(
                message.channel,
                account.settings,
                defaults_group_policy=config.channels.defaults.group_policy,
                history_limit=config.messages.group_chat.history_limit,
                response_prefix=config.messages.response_prefix,
                text_chunk_limit=channel.text_limit,
                overlay=wiring.access_overlay(*key),
            )
            policies[key] = policy
        return policy

    router = wiring.agent if isinstance(wiring.agent, AgentRouter) else None

    def tools_for(message: InboundMessage) -> Sequence[AgentTool]:
        channel = wiring.channels[message.channel]
        account = channel.account(message.account_id)
        if account is None:
            return ()
        try:
            tools = [*channel.agent_tools(account, ToolContext.from_message(message))]
        except Exception:  # tools are extras: a broken provider must not block the reply
            log.exception("channel %s failed to list its agent tools", message.channel)
            tools = []
        tools += wiring.extra_tools(message)
        if router is None:
            return tools
        agent_id = router.select(message)[0]
        return [t for t in tools if router.offers_tool(agent_id, t.name)]

    wrapped: dict[int, Any] = {}

    def answering(agent: Any) -> Any:
        found = wrapped.get(id(agent))
        if found is None:
            found = wrapped[id(agent)] = wiring.wrap_agent(agent)
        return found

    def select_agent(message: InboundMessage) -> tuple[str, Any]:
        assert router is not None
        agent_id, agent = router.select(message)
        return agent_id, answering(agent)

    transcripts = wiring.transcripts or SqliteTranscriptStore(wiring.store)
    pipeline = Pipeline(
        store=wiring.store,
        channels=wiring.channels,
        policy_for=policy_for,
        agent=answering(wiring.agent),
        session=options,
        tools=tools_for,
        sessions=transcripts,
        notes=transcripts,
        pairing=wiring.shared.pairing if wiring.shared is not None else None,
        history=wiring.shared.history if wiring.shared is not None else None,
        on_delivered=wiring.record_outbound,
        on_send_failed=wiring.record_send_failure,
        resend_unknown=config.messages.delivery.resend_unknown == "once",
        max_in_flight=config.messages.delivery.max_in_flight,
        outbox=wiring.delivery_log(
            Outbox(
                Path(wiring.store.path).parent / OUTBOX_FILENAME,
                fsync=config.messages.delivery.fsync,
            )
        ),
        paused=wiring.takeover.paused if wiring.takeover is not None else None,
        select_agent=select_agent if router is not None else None,
    )
    wiring.pipeline_counters = pipeline.counters
    return pipeline.process


def default_inbox(store: Store, handler: Handler, config: Any = None) -> InboxLike:
    """The durable SQLite inbox (``zalogate.core.ingress.Inbox``); ``config`` (the root
    config) gives its retry window (``messages.delivery.retryWindowSeconds``)."""
    from zalogate.core.ingress import Inbox, InboxConfig

    window = _config_model(config).messages.delivery.retry_window_seconds
    return Inbox(store, handler, config=InboxConfig(max_age=float(window)))


@contextlib.asynccontextmanager
async def cluster_shared_state(config: Any, *, name: str) -> AsyncIterator[SharedState | None]:
    """The cluster's shared state for a one-off command (``zalogate pairing approve``) on a
    connection of its own; None in the single-node default (the caller opens the store)."""
    settings = _config_model(config).gateway.cluster
    if settings is None:
        yield None
        return
    async with _cluster_module("shared").open_shared_state(settings, name=name) as shared:
        yield shared


def _unchanged(channel: Channel) -> Channel:
    return channel


@dataclass(frozen=True, slots=True)
class OneOffCluster:
    """What a one-off command or ``zalogate mcp`` takes from the cluster (nothing on one node).

    Attributes:
        route: Wraps a channel so that its session acts (sends, look-ups, the probe) are done
            by the node running the account, when its traits ask for it.
        token_stores: The cluster's shared grants (``ChannelContext.token_stores``), for
            channels whose credentials rotate.
    """

    route: Callable[[Channel], Channel] = _unchanged
    token_stores: TokenStores | None = None


@contextlib.asynccontextmanager
async def cluster_one_off(
    config: Any, channels: Iterable[str], *, name: str, acts: bool
) -> AsyncIterator[OneOffCluster]:
    """For a one-off command or ``zalogate mcp`` using ``channels``: in a cluster, a NATS
    connection of its own (closed afterwards) when one of them needs it — their session acts
    routed to the node running the account when the command ``acts`` and the channel's traits
    say ``sends_need_session_owner``, and the shared grants when they say
    ``shared_credentials``. Nothing on one node, and no connection when none needs it.

    Raises:
        ConnectionError: NATS cannot be reached (a ``ClusterUnavailableError``).
    """
    settings = _config_model(config).gateway.cluster
    traits = [traits_for(c) for c in channels]
    routing = acts and any(t.sends_need_session_owner for t in traits)
    grants = any(t.shared_credentials for t in traits)
    if settings is None or not (routing or grants):
        yield OneOffCluster()
        return
    one_off = _cluster_module("one_off")
    async with one_off.open_one_off(settings, name=name, routing=routing, grants=grants) as got:
        route, stores = got
        yield OneOffCluster(route or _unchanged, stores)


async def cluster_link_key(config: Any, *, name: str) -> str | None:
    """The cluster's console login-link key for ``zalogate console`` (every node accepts a
    link signed with it); None in the single-node default (the gateway's token file)."""
    settings = _config_model(config).gateway.cluster
    if settings is None:
        return None
    key: str = await _cluster_module("shared").load_link_key(settings, name=name)
    return key


@contextlib.asynccontextmanager
async def cluster_state_sinks(
    config: Any, *, name: str, source: str
) -> AsyncIterator[StateSinks | None]:
    """The cluster's buckets the state named ``source`` moves into (``zalogate cluster
    import-state``); None in the single-node default."""
    settings = _config_model(config).gateway.cluster
    if settings is None:
        yield None
        return
    shared = _cluster_module("shared")
    async with shared.open_state_sinks(settings, name=name, source=source) as sinks:
        yield sinks


async def cluster_overlays(
    config: Any, *, name: str
) -> Mapping[tuple[str, str], AccessOverlay] | None:
    """The cluster's console allowlist edits for a one-off command (``zalogate config show``);
    None in the single-node default (the caller reads the store)."""
    settings = _config_model(config).gateway.cluster
    if settings is None:
        return None
    overlays: Mapping[tuple[str, str], AccessOverlay]
    overlays = await _cluster_module("shared").load_overlays(settings, name=name)
    return overlays


async def open_cluster(config: Any, stack: contextlib.AsyncExitStack) -> Any:
    """Join the cluster when ``gateway.cluster`` is set (a ``zalogate.cluster.ClusterNode``,
    left with ``stack``); None in the single-node default, which never imports NATS."""
    settings = _config_model(config).gateway.cluster
    if settings is None:
        return None
    node = _cluster_module("node").ClusterNode(settings)
    return await stack.enter_async_context(node)


def _cluster_module(name: str) -> Any:
    """``zalogate.cluster.<name>``, imported only when the config has ``gateway.cluster``."""
    try:
        return importlib.import_module(f"zalogate.cluster.{name}")
    except ImportError:
        raise ConnectionError(
            "gateway.cluster needs the NATS client: pip install 'zalogate[cluster]'"
        ) from None


_ECHO_BANNER = (
    "No agent is configured: replies come from the built-in `echo` agent, which repeats "
    "every message back. Configure an agent before letting real users in (docs/llm.md)."
)
_ECHO_CHOSEN = (
    'agent.type is "echo": every message is repeated back. Configure a real agent before '
    "letting real users in (docs/llm.md)."
)


def warn_echo(config: Any, *, chosen: bool, logs_to_console: bool) -> None:
    """Say once, loudly, that replies come from the echo agent (``chosen``: the gateway picked
    the agent from the config, where ``agent.type`` may say echo on purpose)."""
    written = isinstance(config, ZalogateConfig) and "type" in config.agent.model_fields_set
    banner = _ECHO_CHOSEN if written and chosen else _ECHO_BANNER
    log.warning(banner)  # on the console too when it logs there
    if not logs_to_console:
        sys.stderr.write(f"\n*** WARNING: {banner} ***\n\n")
        sys.stderr.flush()


async def open_takeover(
    config: Any,
    store: Store,
    state: TakeoverState,
    stack: contextlib.AsyncExitStack,
    cluster: Any = None,
) -> Takeover:
    """Human takeover on ``state`` (this node's or the cluster's), with the conversation
    journal kept ``gateway.console.transcriptDays``: this node's SQLite, or in a cluster
    (``open_cluster``) the stream every node shares; its batch writer runs until ``stack``
    closes."""
    days = _config_model(config).gateway.console.transcript_days
    journal: ConversationJournalLike
    if cluster is None:
        journal = ConversationJournal(store, keep_days=days)
    else:
        journal = await cluster.conversation_journal(keep_days=days)
    journal.start()
    stack.push_async_callback(journal.aclose)
    return Takeover(state, journal=journal)


async def open_access(store: Store, wiring: GatewayWiring, cluster: Any = None) -> AccessOverlays:
    """The console's allowlist edits, loaded and merged into the wiring's policies (a change
    drops the cached ones); in a cluster kept in KV and reloaded when another node edits."""
    access = AccessOverlays(
        SqliteAccessOverlayStore(store) if cluster is None else cluster.access_store
    )
    await access.load()
    if cluster is not None:
        await cluster.follow_access(access.reload)
    wiring.access_overlay = access.get
    access.subscribe(wiring.access_changed)
    return access


def shared_state(store: Store, cluster: Any, clock: Callable[[], float] = time.time) -> SharedState:
    """Where pairing, allow store, takeover and schedules live: ``cluster``'s KV buckets when
    the node joined one (``open_cluster``), else the node's own SQLite ``store``."""
    return local_state(store, clock=clock) if cluster is None else cluster.shared


def _config_model(config: Any) -> ZalogateConfig:
    """``config`` itself, or the defaults for a stand-in (tests pass a bare namespace)."""
    return config if isinstance(config, ZalogateConfig) else ZalogateConfig()


def _setting(source: Any, *names: str) -> Any:
    """The first of ``names`` found on a model/namespace or in a mapping, else None."""
    if source is None:
        return None
    for name in names:
        value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
        if value is not None:
            return value
    return None


def configured_plugins(config: Any, state_dir: Path | None = None) -> list[ChannelPlugin]:
    """The enabled channel plugins whose ``channels.<id>`` section is written and enabled, or
    that have accounts without a section (``zalo`` with ``$ZALO_BOT_TOKEN``).

    The gateway starts these; ``zalogate mcp`` serves their tools.
    """
    from zalogate.runtime.plugins import discover_plugins, load_plugin

    channels_config = _setting(config, "channels")
    chosen: list[ChannelPlugin] = []
    for plugin_id in discover_plugins(config, state_dir=state_dir):
        if not channel_configured(channels_config, plugin_id, config=config):
            log.debug("channel %s is not configured; not started", plugin_id)
            continue
        chosen.append(load_plugin(plugin_id))
    return chosen


def channel_configured(channels_config: Any, plugin_id: str, *, config: Any = None) -> bool:
    """Whether ``channels.<plugin_id>`` is written and not disabled (or the environment
    implies accounts for it)."""
    section = _setting(channels_config, plugin_id)
    if section is None:
        # No section: only accounts the environment implies (zalo's ZALO_BOT_TOKEN, resolved
        # with the environment ``config`` was loaded with) make it configured.
        if not isinstance(config, ZalogateConfig):
            return False
        from zalogate.config import resolve_accounts

        return any(account.enabled for account in resolve_accounts(config, plugin_id))
    if isinstance(channels_config, BaseModel):
        # A model fills in every channel section; run only the ones the user wrote down.
        written = set(channels_config.model_fields_set) | set(channels_config.model_extra or {})
        fields = type(channels_config).model_fields
        names = {plugin_id} | {n for n, f in fields.items() if f.alias == plugin_id}
        if not names & written:
            return False
    return _setting(section, "enabled") is not False
