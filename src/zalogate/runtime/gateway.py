"""The gateway process: wires the store, inbox, pipeline, channels and HTTP server, and
supervises one monitor per enabled channel account (:mod:`zalogate.runtime.supervisor`).

Usage::

    async with Gateway(config, state_dir=state_dir, handle_signals=True) as gateway:
        await gateway.wait()  # until SIGINT/SIGTERM or gateway.request_stop()

Start-up order: logging -> store -> agent -> inbox + pipeline -> channels (each gets a
:class:`ChannelContext`) -> HTTP server -> inbox workers (which replay unfinished messages)
-> monitors -> control endpoint (``gateway.token``). Shutdown runs the other way round
(channels are closed with their ``aclose`` hook after the inbox stopped) and is bounded by
``shutdown_timeout``.

One account can be restarted or stopped while the others run (:meth:`Gateway.restart_account`,
:meth:`Gateway.stop_account`; served by the HTTP control endpoint, see
:mod:`zalogate.runtime.control`), and :meth:`Gateway.send_message` sends one message through a
running account for ``message send`` (the gateway's session, and its listener for the
personal account's file uploads).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from zalogate.agents.services import AgentServices
from zalogate.backoff import BackoffConfig
from zalogate.config.schema import HttpLimitsConfig
from zalogate.core.access_overlay import AccessOverlays
from zalogate.core.channel import (
    Admission,
    Admitter,
    Channel,
    ChannelContext,
    ChannelPlugin,
)
from zalogate.core.errors import DeliveryError, describe_error
from zalogate.core.ingress import Inbox
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.shared_state import SharedState
from zalogate.core.takeover import Takeover
from zalogate.core.traits import register_traits
from zalogate.runtime.control import (
    ControlUnavailableError,
    MessageRequest,
    SendRefusedError,
    deliver,
    new_token,
    remove_token_file,
    token_path,
    write_token_file,
)
from zalogate.runtime.http import DEFAULT_HOST, DEFAULT_PORT, HttpServer
from zalogate.runtime.http_guard import guard_from
from zalogate.runtime.logging import (
    configure_logging,
    gateway_log_path,
    redact,
    register_secret,
    reset_logging,
)
from zalogate.runtime.metrics import GatewayMetrics, message_tracer
from zalogate.runtime.scheduler import Scheduler
from zalogate.runtime.scheduling import build_scheduler, schedule_tools
from zalogate.runtime.secrets import collect_secrets, register_secret_values
from zalogate.runtime.status import AccountState, AccountStatus, StatusBoard, now_ms
from zalogate.runtime.supervisor import Monitor, Supervisor
from zalogate.runtime.wiring import (
    ChannelSource,
    GatewayWiring,
    HandlerFactory,
    InboxFactory,
    InboxLike,
    configured_plugins,
    default_agent,
    default_handler,
    default_inbox,
    is_echo,
    mount_deferred_replies,
    open_access,
    open_cluster,
    open_takeover,
    shared_state,
    warn_echo,
)
from zalogate.store import Store

__all__ = ["Gateway"]

log = logging.getLogger("zalogate.gateway")

_AGENT_SEND_WAIT = 10.0
"""Seconds a deferred reply or a schedule waits for its account to finish restarting."""
_RESTARTING = frozenset({AccountState.STARTING, AccountState.BACKOFF})


class _TrackingAdmitter:
    """The inbox as channels see it: every admission stamps the account's last inbound."""

    def __init__(self, inbox: Admitter, status: StatusBoard, metrics: GatewayMetrics) -> None:
        self._inbox = inbox
        self._status = status
        self._count = metrics.count_admission

    async def admit(self, message: InboundMessage) -> Admission:
        arrived = now_ms()  # before the admit: its handler may reply before the admit returns
        admission = await self._inbox.admit(message)
        self._status.update(message.channel, message.account_id, last_inbound_at=arrived)
        self._count(message.channel, message.account_id, duplicate=admission.duplicate)
        return admission


class Gateway:
    """The running gateway: ``async with Gateway(...) as gw: await gw.wait()``.

    Args:
        config: The validated root config (``zalogate.config.ZalogateConfig``).
        state_dir: Where the database, the log and credentials live.
        channels: Plugins (or ready channels) to run; default: the enabled installed plugins.
        agent: The agent backend; default: ``zalogate.agents.create_agent(config, store)``.
        handler_factory: Builds the inbox handler; default: the core pipeline.
        inbox_factory: Builds the inbox; default: ``zalogate.core.ingress.Inbox``.
        http_host: Overrides ``config.gateway.host`` (default 127.0.0.1).
        http_port: Overrides ``config.gateway.port`` (default 18789; 0 picks a free port).
        backoff: Restart delays after a monitor failure.
        unauthorized_backoff: Restart delays after an authorisation failure.
        startup_grace: Seconds a monitor must survive before it counts as ``running``.
        shutdown_timeout: Upper bound for the whole shutdown, in seconds.
        configure_logs: Configure logging (to ``<state_dir>/logs/gateway.log``) on start.
        log_level: Overrides ``config.gateway.log_level``.
        console_log: Also log to stderr.
        handle_signals: Stop on SIGINT/SIGTERM (only from the main thread).
        app: Python handlers (``zalogate.handlers.Router``) in front of every agent.
        clock: Seconds since the epoch, for scheduled messages (tests move it).
        schedule_poll: Seconds between two looks at the ``schedules`` table.
    """

    def __init__(
        self,
        config: Any,
        *,
        state_dir: Path,
        channels: Sequence[ChannelSource] | None = None,
        agent: Any = None,
        handler_factory: HandlerFactory | None = None,
        inbox_factory: InboxFactory | None = None,
        http_host: str | None = None,
        http_port: int | None = None,
        backoff: BackoffConfig | None = None,
        unauthorized_backoff: BackoffConfig | None = None,
        startup_grace: float = 1.0,
        shutdown_timeout: float = 10.0,
        configure_logs: bool = True,
        log_level: str | int | None = None,
        console_log: bool = True,
        handle_signals: bool = False,
        app: Any = None,
        clock: Callable[[], float] = time.time,
        schedule_poll: float = 1.0,
    ) -> None:
        gateway_config = getattr(config, "gateway", None)
        self.config = config
        self.state_dir = Path(state_dir)
        self._sources = channels
        self._agent = agent
        self._handler_factory = handler_factory
        self._inbox_factory = inbox_factory
        host = http_host or getattr(gateway_config, "host", None) or DEFAULT_HOST
        port = http_port if http_port is not None else getattr(gateway_config, "port", None)
        limits = getattr(gateway_config, "http", None)
        self._shutdown_timeout = shutdown_timeout
        self._configure_logs = configure_logs
        self._log_level = log_level or getattr(gateway_config, "log_level", None) or "info"
        self._console_log = console_log
        self._handle_signals = handle_signals
        self._app = app
        self._clock = clock
        self._schedule_poll = schedule_poll
        self.scheduler: Scheduler | None = None

        self.status_board = StatusBoard()
        self.supervisor = Supervisor(
            self.status_board,
            backoff=backoff or BackoffConfig(min_delay=1.0, max_delay=30.0),
            slow_backoff=unauthorized_backoff or BackoffConfig(min_delay=30.0, max_delay=300.0),
            startup_grace=startup_grace,
            shutdown_timeout=shutdown_timeout,
            stopping=lambda: self._stop.is_set(),
        )
        self.http = HttpServer(
            str(host),
            DEFAULT_PORT if port is None else int(port),
            status=self.status,
            shutdown_timeout=max(0.2, shutdown_timeout * 0.15),
            guard=guard_from(limits) if isinstance(limits, HttpLimitsConfig) else None,
        )
        self.store: Store | None = None
        self.agent: Any = None
        self.inbox: InboxLike | None = None
        self._ready = False
        self.cluster: Any = None
        """The ``zalogate.cluster.ClusterNode`` in cluster mode."""
        self.channels: dict[str, Channel] = {}
        self.takeover: Takeover | None = None
        self.access: AccessOverlays | None = None
        """The console's allowlist edits (merged into every account's policy)."""
        self.shared: SharedState | None = None
        """Pairing, allow store, takeover, group history: this node's SQLite or the cluster's KV."""
        self.metrics: GatewayMetrics | None = None
        self._stop = asyncio.Event()
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._signals: list[signal.Signals] = []
        self._logging_configured = False
        self._started = False

    # -- public surface -------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """Where the gateway writes its log."""
        return gateway_log_path(self.state_dir)

    @property
    def url(self) -> str:
        """The HTTP server's base URL (real port once started)."""
        return self.http.url

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def status(self) -> list[AccountStatus]:
        """A snapshot of every supervised account (with its dead letters)."""
        records = self.status_board.snapshot()
        if not isinstance(self.inbox, Inbox) or not self.inbox.dead_counts:
            return records
        dead = self.inbox.dead_counts
        return [replace(r, dead_letters=dead.get((r.channel, r.account), 0)) for r in records]

    def request_stop(self) -> None:
        """Ask the gateway to stop; :meth:`wait` returns and ``__aexit__`` shuts down."""
        self._signal_stop()

    async def wait(self) -> None:
        """Wait until a stop is requested (a signal, or :meth:`request_stop`)."""
        await self._stop.wait()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything; on a failure half way, undo what was started and re-raise."""
        if self._exit_stack is not None or self._started:
            raise RuntimeError("a gateway runs once; create a new one to start again")
        self._started = True
        stack = self._exit_stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            self._signal_stop()
            self._exit_stack = None
            await stack.aclose()
            raise

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        if self._configure_logs:
            configure_logging(self._log_level, log_file=self.log_file, console=self._console_log)
            self._logging_configured = True
            stack.callback(self._reset_logging)
        stack.callback(log.info, "gateway stopped")  # runs last, while the log is still open
        for secret in collect_secrets(self.config):
            register_secret(secret)
        if self._handle_signals:
            self._install_signal_handlers()
            stack.callback(self._remove_signal_handlers)
        log.info("starting zalogate gateway (state dir %s)", self.state_dir)

        store = self.store = await Store.open(self.state_dir)
        stack.push_async_callback(self._close_store)

        # Cluster mode: the inbox on JetStream, a lease per account and the shared state in
        # KV buckets (docs/cluster.md).
        cluster = self.cluster = await open_cluster(self.config, stack)
        self.supervisor.leases = cluster.leases if cluster else None
        shared = self.shared = shared_state(store, cluster, self._clock)
        services = AgentServices(
            store=store,
            routes=self.http,
            send=self._send_payload,
            base_url=lambda: self.http.url,
            channels=self.channels,
            transcripts=cluster.transcripts if cluster else None,
        )
        self.agent = (
            self._agent
            if self._agent is not None
            else default_agent(self.config, store, services, self._app)
        )
        mount_deferred_replies(self.config, services)
        if self._agent is None:  # an agent handed in belongs to the caller, who closes it
            stack.push_async_callback(self._close_agent)
        if is_echo(self.agent):
            on_console = self._configure_logs and self._console_log
            warn_echo(self.config, chosen=self._agent is None, logs_to_console=on_console)

        self.takeover = open_takeover(self.config, store, shared.takeover, stack)
        metrics = self.metrics = GatewayMetrics(
            self.status_board,
            store=store,
            pipeline_counters=lambda: wiring.pipeline_counters,
            inbox_counters=lambda: getattr(self.inbox, "counters", None),
            channels=lambda: self.channels,
        )
        if cluster is not None:
            cluster.instrument(metrics)
        wiring = GatewayWiring(self.config, self.state_dir, store, self.agent, self.status_board)
        takeover = self.takeover
        wiring.wrap_agent = lambda agent: metrics.timed_agent(agent, on_reply=takeover.agent_said)
        wiring.takeover = self.takeover
        wiring.shared = shared
        wiring.transcripts = services.transcripts
        wiring.extra_tools = schedule_tools(self.config, shared.schedules)
        wiring.on_outbound = metrics.count_sent
        access = self.access = await open_access(store, wiring, cluster)
        handler = metrics.timed(
            (self._handler_factory or default_handler)(wiring), tracer=message_tracer()
        )
        if self._inbox_factory is not None:
            inbox = self.inbox = self._inbox_factory(store, handler)
        elif cluster is not None:
            inbox = self.inbox = cluster.inbox(store, handler)
        else:
            inbox = self.inbox = default_inbox(store, handler, self.config)
        admitter = _TrackingAdmitter(inbox, self.status_board, metrics)

        sources = (
            self._sources
            if self._sources is not None
            else configured_plugins(self.config, self.state_dir)
        )
        for source in sources:
            channel = self._create_channel(source, store, admitter, access)
            if cluster is not None:  # a personal account's sends go out from its node
                channel = cluster.route_sends(channel)
            if channel.id in self.channels:
                raise ValueError(f"two channels share the id {channel.id!r}")
            self.channels[channel.id] = channel
            for account in channel.accounts():
                register_secret_values(account.settings)
        wiring.channels.update(self.channels)

        # Until every account has started (and mounted its webhook), an unserved path
        # answers 503 so that Zalo retries, never 404.
        self.http.set_warming(self._warming)
        await self.http.start()
        stack.push_async_callback(self.http.stop)
        if cluster is not None:
            cluster.http_url = self.http.url
        # Runs after the inbox stopped (its handlers still send through the channels).
        stack.push_async_callback(self._close_channels)

        await _maybe_await(inbox.start())
        stack.push_async_callback(self._stop_inbox)

        stack.push_async_callback(self.supervisor.stop_all)
        for channel in self.channels.values():
            for account in channel.accounts():
                if account.enabled:
                    self.supervisor.start(channel, account)
        scheduler = self.scheduler = build_scheduler(
            self.config, shared.schedules, self._send_payload, self._clock, self._schedule_poll
        )
        if cluster is not None:  # one node sends the cluster's schedules: the lease holder
            cluster.start_scheduler(scheduler, since_ms=int(self._clock() * 1000))
            stack.push_async_callback(cluster.stop_scheduler)
        else:
            scheduler.start()
            stack.push_async_callback(scheduler.stop)
        self.http.add_health("schedules", scheduler.health)
        if not self.supervisor.monitors:
            log.warning("no enabled channel account: the gateway has nothing to monitor")
        self._enable_control(stack)
        self._enable_console(stack)
        self._ready = True
        log.info("gateway listening on %s; log file %s", self.http.url, self.log_file)

    def _enable_control(self, stack: contextlib.AsyncExitStack) -> None:
        """Serve the control endpoint with a fresh token, written to ``gateway.token``."""
        token = new_token()
        register_secret(token)  # never in a log line, whatever logs it
        self.http.enable_control(self, token, messages=self, inbox=self)
        stack.callback(self.http.disable_control)
        try:
            write_token_file(self.state_dir, token)
        except OSError as exc:
            self.http.disable_control()
            log.warning(
                "control endpoint off: cannot write %s (%s)",
                token_path(self.state_dir),
                exc.strerror or type(exc).__name__,
            )
            return
        # Runs first on shutdown: the CLI stops asking as soon as the gateway stops.
        stack.callback(remove_token_file, self.state_dir, token)

    def _enable_console(self, stack: contextlib.AsyncExitStack) -> None:
        """Serve ``/console`` and ``/metrics`` (``gateway.console``)."""
        from zalogate.console import Console

        settings = getattr(getattr(self.config, "gateway", None), "console", None)
        if settings is not None and not settings.enabled:
            return
        password = getattr(settings, "password", None)
        console = Console(self, password=password.get_secret_value() if password else None)
        self.http.serve_console(console.app, console.metrics_app)
        stack.callback(self.http.serve_console, None, None)
        stack.push_async_callback(console.aclose)

    def _create_channel(
        self, source: ChannelSource, store: Store, inbox: Admitter, access: AccessOverlays
    ) -> Channel:
        if not isinstance(source, ChannelPlugin):
            return source
        if source.traits is not None:
            register_traits(source.traits)
        context = ChannelContext(
            config=self.config,
            state_dir=self.state_dir,
            store=store,
            inbox=inbox,
            routes=self.http,
            logger=logging.getLogger(f"zalogate.channels.{source.id}"),
            register_secret=register_secret,
            extras={"status": self.status_board},
            health=partial(self._monitor_health, source.id),
            access_overlay=partial(access.get, source.id),
            reconnected=partial(self.status_board.count_reconnect, source.id),
            shared=self.shared,
            token_stores=self.cluster.token_stores if self.cluster is not None else None,
        )
        channel = source.create(context)
        log.info("channel %s (%s) created", source.id, source.label)
        return channel

    def _monitor_health(self, channel: str, account_id: str, error: str | None) -> None:
        self.status_board.report(channel, account_id, "monitor", error)

    def _warming(self) -> bool:
        if not self._ready:
            return True
        waiting = (AccountState.STARTING, AccountState.BACKOFF)
        return any(record.state in waiting for record in self.status_board.snapshot())

    # -- account control ------------------------------------------------------------------

    async def restart_account(self, channel: str, account_id: str) -> AccountStatus:
        """Restart one account's monitor now, with fresh restart delays.

        Stops the monitor if it runs (or waits in backoff), then starts it again; a
        ``failed`` or stopped account is started again too. Waits (a little longer than the
        startup grace) for the new run to leave ``starting``. The other accounts are not
        touched.

        Raises:
            UnknownAccountError: The gateway runs no such channel or enabled account.
            ControlUnavailableError: The gateway is stopping, or the old monitor did not stop.
        """
        return await self.supervisor.restart(self._monitor_for(channel, account_id))

    async def retry_inbox(self, ids: Sequence[int] | None = None, *, all_dead: bool = False) -> int:
        """Put dead or failed inbox entries (``ids``, or every dead one) back in the queue;
        the running inbox processes them at once. Returns how many were requeued.

        Raises:
            ControlUnavailableError: The gateway has no store (not started, or stopping).
        """
        from zalogate.core.inbox_admin import requeue_entries

        if isinstance(self.inbox, Inbox):
            return await self.inbox.retry(ids, all_dead=all_dead)
        if self.store is None or self.stopping:
            raise ControlUnavailableError("the gateway is not running")
        return await requeue_entries(self.store, ids, all_dead=all_dead)

    async def stop_account(
        self, channel: str, account_id: str, *, reason: str | None = None
    ) -> AccountStatus:
        """Stop one account's monitor and leave it stopped (until :meth:`restart_account`).

        Its status becomes ``stopped`` with ``reason`` (default "stopped on request").

        Raises:
            UnknownAccountError: The gateway runs no such channel or enabled account.
            ControlUnavailableError: The gateway is stopping, or the monitor did not stop.
        """
        monitor = self._monitor_for(channel, account_id)
        return await self.supervisor.stop(monitor, reason or "stopped on request")

    async def send_message(
        self, channel: str, account_id: str, request: MessageRequest
    ) -> tuple[str, DeliveryReceipt]:
        """Send one message through a running account (``message send`` via the gateway).

        The account's last outbound is stamped as for agent replies, and the send is recorded
        in ``pipeline_deliveries`` (message id ``control:<random>``, seq 0), so ``channels
        status`` shows it afterwards too.

        Returns:
            The account's id and the receipt (with at least one message id).

        Raises:
            UnknownAccountError: The gateway runs no such channel or enabled account.
            ControlUnavailableError: The account is not running, or the gateway is stopping.
            SendRefusedError: Nothing, or only part, went out (``message_ids``).
        """
        monitor = self._monitor_for(channel, account_id)
        self.supervisor.check_accepting()
        record = self.status_board.get(*monitor.key)
        state = record.state if record is not None else AccountState.STARTING
        sendable = (AccountState.RUNNING, AccountState.STANDBY if self.cluster else None)
        if state not in sendable:  # in a cluster a standby account sends too (or routes)
            why = (record.last_error or record.reason) if record is not None else None
            detail = f": {redact(why)}" if why else ""
            raise ControlUnavailableError(
                f"the {monitor.label} account is not running (state {state.value}){detail}"
            )
        key = f"control:{uuid.uuid4().hex}"
        try:
            receipt = await deliver(monitor.channel, monitor.account, request)
        except Exception as exc:
            sent = exc.partial_ids if isinstance(exc, DeliveryError) else ()
            status = "partial" if sent else "failed"
            await self._record_send(monitor, key, request.target, status, sent, exc)
            log.warning("%s: control send failed: %s", monitor.label, redact(describe_error(exc)))
            raise SendRefusedError(_error_line(exc), message_ids=sent) from exc
        ids = tuple(receipt.message_ids)
        if ids:
            self.status_board.update(*monitor.key, last_outbound_at=now_ms())
            if self.metrics is not None:
                self.metrics.count_sent(*monitor.key)
        if receipt.error or not ids:
            error = Exception(receipt.error or "Zalo returned no message id")
            status = "partial" if ids else "failed"
            await self._record_send(monitor, key, request.target, status, ids, error)
            raise SendRefusedError(_error_line(error), message_ids=ids)
        await self._record_send(monitor, key, request.target, "sent", ids, None)
        return monitor.account.account_id, receipt

    async def _record_send(
        self,
        monitor: Monitor,
        key: str,
        target: str,
        status: str,
        ids: Sequence[str],
        error: BaseException | None,
    ) -> None:
        """One ``pipeline_deliveries`` row for a control send (a failure is only logged)."""
        from zalogate.core.pipeline import record_delivery

        if self.store is None:
            return
        why = redact(describe_error(error)) if error is not None else None
        try:
            await record_delivery(
                self.store, (*monitor.key, key, 0), target, status, ids, why, at_ms=now_ms()
            )
        except Exception as exc:
            log.warning("%s: recording a control send failed: %s", monitor.label, exc)

    async def _send_payload(
        self, channel: str, account_id: str, target: str, payload: ReplyPayload
    ) -> Sequence[str]:
        """Send one payload through a running account (deferred replies, schedules).

        An account that is restarting (``starting``, or a short backoff) is waited for up to
        ``_AGENT_SEND_WAIT`` seconds: a deferred answer or a due schedule should not fail
        because its monitor happened to restart at that moment.
        """
        request = MessageRequest(target=target, text=payload.text, media=payload.media_urls)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _AGENT_SEND_WAIT
        while True:
            try:
                return (await self.send_message(channel, account_id, request))[1].message_ids
            except ControlUnavailableError:
                record = self.status_board.get(channel, account_id)
                waiting = record is not None and record.state in _RESTARTING
                if self.stopping or not waiting or loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)

    def _monitor_for(self, channel: str, account_id: str) -> Monitor:
        return self.supervisor.find(self.channels, channel, account_id)

    # -- shutdown ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop monitors, inbox, HTTP server and store, in that order (bounded in time)."""
        self._signal_stop()
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    def _signal_stop(self) -> None:
        """Set the gateway's stop event and every account's."""
        self._stop.set()
        self.supervisor.signal_stop()

    async def _stop_inbox(self) -> None:
        if self.inbox is not None:
            await _maybe_await(self.inbox.stop(timeout=self._shutdown_timeout * 0.25))

    async def _close_channels(self) -> None:
        """Let channels release their clients (their ``aclose`` hook)."""
        for channel in self.channels.values():
            try:
                await channel.aclose()
            except Exception as exc:
                log.warning("channel %s did not close cleanly: %s", channel.id, redact(str(exc)))

    async def _close_agent(self) -> None:
        """Release the agent's clients (the optional ``aclose`` method), e.g. the OpenAI one."""
        close = getattr(self.agent, "aclose", None)
        if not callable(close):
            return
        try:
            await _maybe_await(close())
        except Exception as exc:
            log.warning("closing the agent failed: %s", redact(str(exc)))

    async def _close_store(self) -> None:
        if self.store is not None:
            await self.store.close()

    def _reset_logging(self) -> None:
        if self._logging_configured:
            self._logging_configured = False
            reset_logging()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        self._signals = []

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            log.warning("second %s: exiting now", sig.name)
            os._exit(130)
        log.info("received %s; shutting down", sig.name)
        self._signal_stop()


def _error_line(exc: BaseException) -> str:
    """The first line of ``exc`` (redacted), or its type when it has no text."""
    lines = str(exc).strip().splitlines()
    return (redact(lines[0].strip()) if lines else "") or type(exc).__name__


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
