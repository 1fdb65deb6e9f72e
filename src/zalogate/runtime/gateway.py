"""The gateway process: wires the store, inbox, pipeline, channels and HTTP server, and
supervises one monitor task per enabled channel account.

Usage::

    async with Gateway(config, state_dir=state_dir, handle_signals=True) as gateway:
        await gateway.wait()  # until SIGINT/SIGTERM or gateway.request_stop()

Start-up order: logging -> store -> agent -> inbox + pipeline -> channels (each gets a
:class:`ChannelContext`) -> HTTP server -> inbox workers (which replay unfinished messages)
-> monitors -> control endpoint (``gateway.token``). Shutdown runs the other way round
(channels with an ``aclose`` method are closed after the inbox stopped) and is bounded by
``shutdown_timeout``.

A monitor (``channel.run(account, stop)``) that raises is restarted with a jittered backoff
(1 s to 30 s by default); one that keeps failing never affects the other accounts. How a
failure is classified (channels cannot import the runtime, so this is duck-typed):

* ``exc.unauthorized is True``, an HTTP ``status``/``status_code``/``error_code`` of 401 or
  403, or a class named ``*Unauthorized*``/``*AuthError`` anywhere in the cause chain ->
  state ``unauthorized``, retried slowly (30 s to 5 min by default);
* ``exc.fatal is True`` -> state ``failed``, not restarted;
* anything else -> state ``backoff``, restarted.

One account can be restarted or stopped while the others run (:meth:`Gateway.restart_account`,
:meth:`Gateway.stop_account`; served by the HTTP control endpoint, see
:mod:`zalogate.runtime.control`), and :meth:`Gateway.send_message` sends one message through a
running account for ``message send`` (the gateway's session, and its listener for the
personal account's file uploads). Each account has a stop event of its own, which is the one
its monitor gets. A channel may offer ``reset_account(account)`` (optional, may be a
coroutine): called when an account is restarted or stopped on request, right after its stop
event is set, to drop what it holds of the account's session (a logged-in client) without
saving it, so that the next run starts from the saved credentials (a new ``channels login``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any, Protocol, cast

from pydantic import BaseModel, SecretBytes, SecretStr

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.config import ZalogateConfig
from zalogate.core.channel import (
    Admission,
    Admitter,
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    ProbeResult,
)
from zalogate.core.errors import DeliveryError, describe_error
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.runtime.control import (
    ControlUnavailableError,
    MessageRequest,
    SendRefusedError,
    UnknownAccountError,
    deliver,
    new_token,
    remove_token_file,
    token_path,
    write_token_file,
)
from zalogate.runtime.http import DEFAULT_HOST, DEFAULT_PORT, HttpServer
from zalogate.runtime.logging import (
    configure_logging,
    gateway_log_path,
    redact,
    register_secret,
    reset_logging,
)
from zalogate.runtime.status import AccountState, AccountStatus, StatusBoard, now_ms
from zalogate.store import Store

__all__ = [
    "Gateway",
    "GatewayWiring",
    "Handler",
    "InboxLike",
    "classify_failure",
    "collect_secrets",
    "configured_plugins",
]

log = logging.getLogger("zalogate.gateway")

Handler = Callable[[InboundMessage], Awaitable[Any]]
"""Processes one admitted message (the pipeline); the inbox calls it."""

_AUTH_STATUSES = frozenset({401, 403})
_AUTH_CLASS_NAME = re.compile(r"unauthori[sz]ed|autherror|authenticationerror|forbidden", re.I)
_SECRET_FIELD = re.compile(
    r"(token|secret|password|passwd|apikey|cookie|cookies|zpwenk|zpwsek|secretkey)$", re.I
)
_ECHO_BANNER = (
    "No agent is configured: replies come from the built-in `echo` agent, which repeats "
    "every message back. Configure an agent before letting real users in."
)


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

    ``channels`` is filled with the (send-tracking) channels right after the handler is
    built and before the inbox starts, so a handler may keep the mapping and look up the
    channel of each message by ``message.channel``.
    """

    config: Any
    state_dir: Path
    store: Store
    agent: Any
    status: StatusBoard
    channels: dict[str, Channel] = field(default_factory=dict)


HandlerFactory = Callable[[GatewayWiring], Handler]
InboxFactory = Callable[[Store, Handler], InboxLike]
ChannelSource = ChannelPlugin | Channel


def classify_failure(exc: BaseException) -> AccountState:
    """Map a monitor's exception to ``unauthorized``, ``failed`` or ``backoff``."""
    chain = list(_cause_chain(exc))
    for error in chain:
        if getattr(error, "unauthorized", False) is True:
            return AccountState.UNAUTHORIZED
        for name in ("status_code", "status", "error_code"):
            value = getattr(error, name, None)
            if _as_status(value) in _AUTH_STATUSES:
                return AccountState.UNAUTHORIZED
        if any(_AUTH_CLASS_NAME.search(cls.__name__) for cls in type(error).__mro__):
            return AccountState.UNAUTHORIZED
    if any(getattr(error, "fatal", False) is True for error in chain):
        return AccountState.FAILED
    return AccountState.BACKOFF


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _cause_chain(exc: BaseException, limit: int = 8) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < limit:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def collect_secrets(obj: Any, *, _key: str = "", _depth: int = 0) -> set[str]:
    """Every string in ``obj`` (a config model, dataclass, mapping, list) in a secret field.

    A field counts when its name ends in ``token``, ``secret``, ``password``, ``apiKey``,
    ``cookie(s)``, ``zpw_enk``/``zpw_sek`` (case and ``_`` ignored); pydantic ``SecretStr``
    values count wherever they are.
    """
    found: set[str] = set()
    if _depth > 12 or obj is None:
        return found
    if isinstance(obj, SecretStr | SecretBytes):
        value = obj.get_secret_value()
        found.add(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        return found
    if isinstance(obj, str):
        if _key and _SECRET_FIELD.search(_key.replace("_", "").replace("-", "")):
            found.add(obj)
        return found
    children: list[tuple[str, Any]] = []
    if isinstance(obj, BaseModel):
        fields = type(obj).model_fields
        children = [(f.alias or name, getattr(obj, name, None)) for name, f in fields.items()]
        children += list((obj.model_extra or {}).items())
    elif is_dataclass(obj) and not isinstance(obj, type):
        children = [(name, getattr(obj, name, None)) for name in obj.__dataclass_fields__]
    elif isinstance(obj, SimpleNamespace):
        children = list(vars(obj).items())
    elif isinstance(obj, Mapping):
        children = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple | set | frozenset):
        # A list under a secret key (cookies) is secret as a whole.
        children = [(_key, item) for item in obj]
    for key, value in children:
        found |= collect_secrets(value, _key=key, _depth=_depth + 1)
    return found


class _TrackingAdmitter:
    """The inbox as channels see it: every admission stamps the account's last inbound."""

    def __init__(self, inbox: Admitter, status: StatusBoard) -> None:
        self._inbox = inbox
        self._status = status

    async def admit(self, message: InboundMessage) -> Admission:
        admission = await self._inbox.admit(message)
        self._status.update(message.channel, message.account_id, last_inbound_at=now_ms())
        return admission


class _TrackedChannel:
    """A channel whose successful sends stamp the account's last outbound.

    Every other attribute (``probe``, ``directory_*``, ``react``, ...) is the wrapped
    channel's, so capability checks with ``isinstance`` still work.
    """

    def __init__(self, channel: Channel, status: StatusBoard) -> None:
        self._channel = channel
        self._status = status
        self.id = channel.id
        self.text_limit = channel.text_limit

    @property
    def wrapped(self) -> Channel:
        """The channel itself."""
        return self._channel

    def accounts(self) -> Sequence[ChannelAccount]:
        return self._channel.accounts()

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await self._channel.run(account, stop)

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        receipt = await self._channel.send(account, target, reply)
        if receipt.message_ids:
            self._status.update(self.id, account.account_id, last_outbound_at=now_ms())
        return receipt

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return await self._channel.probe(account)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


@dataclass(slots=True, eq=False)
class _Monitor:
    """One supervised account: its own stop event, its supervisor task, a control lock."""

    channel: Channel
    account: ChannelAccount
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the current run left ``starting`` (running, or failed)."""
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel.id, self.account.account_id)

    @property
    def label(self) -> str:
        return f"{self.channel.id}/{self.account.account_id}"


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
        self._backoff = backoff or BackoffConfig(min_delay=1.0, max_delay=30.0)
        self._slow_backoff = unauthorized_backoff or BackoffConfig(min_delay=30.0, max_delay=300.0)
        self._startup_grace = startup_grace
        self._shutdown_timeout = shutdown_timeout
        self._configure_logs = configure_logs
        self._log_level = log_level or getattr(gateway_config, "log_level", None) or "info"
        self._console_log = console_log
        self._handle_signals = handle_signals

        self.status_board = StatusBoard()
        self.http = HttpServer(
            str(host),
            DEFAULT_PORT if port is None else int(port),
            status=self.status_board.snapshot,
            shutdown_timeout=max(0.2, shutdown_timeout * 0.15),
        )
        self.store: Store | None = None
        self.agent: Any = None
        self.inbox: InboxLike | None = None
        self.channels: dict[str, Channel] = {}
        self._stop = asyncio.Event()
        self._monitors: dict[tuple[str, str], _Monitor] = {}
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
        """A snapshot of every supervised account."""
        return self.status_board.snapshot()

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

        self.agent = self._agent if self._agent is not None else _default_agent(self.config, store)
        if self._agent is None:  # an agent handed in belongs to the caller, who closes it
            stack.push_async_callback(self._close_agent)
        if _is_echo(self.agent):
            log.warning(_ECHO_BANNER)
            sys.stderr.write(f"\n*** WARNING: {_ECHO_BANNER} ***\n\n")
            sys.stderr.flush()

        wiring = GatewayWiring(self.config, self.state_dir, store, self.agent, self.status_board)
        handler = (self._handler_factory or _default_handler)(wiring)
        inbox = self.inbox = (self._inbox_factory or _default_inbox)(store, handler)
        admitter = _TrackingAdmitter(inbox, self.status_board)

        sources = (
            self._sources
            if self._sources is not None
            else configured_plugins(self.config, self.state_dir)
        )
        for source in sources:
            channel = self._create_channel(source, store, admitter)
            if channel.id in self.channels:
                raise ValueError(f"two channels share the id {channel.id!r}")
            self.channels[channel.id] = _TrackedChannel(channel, self.status_board)
            for account in channel.accounts():
                register_secret_values(account.settings)
        wiring.channels.update(self.channels)

        await self.http.start()
        stack.push_async_callback(self.http.stop)
        # Runs after the inbox stopped (its handlers still send through the channels).
        stack.push_async_callback(self._close_channels)

        await _maybe_await(inbox.start())
        stack.push_async_callback(self._stop_inbox)

        stack.push_async_callback(self._stop_monitors)
        for channel in self.channels.values():
            for account in channel.accounts():
                if not account.enabled:
                    continue
                self.status_board.register(channel.id, account.account_id)
                monitor = _Monitor(channel, account)
                self._monitors[monitor.key] = monitor
                self._launch(monitor)
        if not self._monitors:
            log.warning("no enabled channel account: the gateway has nothing to monitor")
        self._enable_control(stack)
        log.info("gateway listening on %s; log file %s", self.http.url, self.log_file)

    def _enable_control(self, stack: contextlib.AsyncExitStack) -> None:
        """Serve the control endpoint with a fresh token, written to ``gateway.token``."""
        token = new_token()
        register_secret(token)  # never in a log line, whatever logs it
        self.http.enable_control(self, token, messages=self)
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

    def _create_channel(self, source: ChannelSource, store: Store, inbox: Admitter) -> Channel:
        if not isinstance(source, ChannelPlugin):
            return source
        context = ChannelContext(
            config=self.config,
            state_dir=self.state_dir,
            store=store,
            inbox=inbox,
            routes=self.http,
            logger=logging.getLogger(f"zalogate.channels.{source.id}"),
            extras={"status": self.status_board},
        )
        channel = source.create(context)
        log.info("channel %s (%s) created", source.id, source.label)
        return channel

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
        monitor = self._monitor_for(channel, account_id)
        async with monitor.lock:
            self._check_accepting()
            await self._halt(monitor)
            self._check_accepting()
            self.status_board.update(*monitor.key, last_error=None, reason=None)
            self._launch(monitor)
            log.info("%s monitor restarted on request", monitor.label)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(monitor.settled.wait(), timeout=self._startup_grace + 1.0)
        return self.status_board.get(*monitor.key) or self.status_board.register(*monitor.key)

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
        why = reason or "stopped on request"
        async with monitor.lock:
            self._check_accepting()
            await self._halt(monitor)
            record = self.status_board.update(
                *monitor.key, state=AccountState.STOPPED, reason=why, last_stop_at=now_ms()
            )
        log.info("%s monitor stopped on request (%s)", monitor.label, why)
        return record

    async def send_message(
        self, channel: str, account_id: str, request: MessageRequest
    ) -> tuple[str, DeliveryReceipt]:
        """Send one message through a running account (``message send`` via the gateway).

        It goes through the same send-tracking channel as agent replies (the account's last
        outbound is stamped) and is recorded in ``pipeline_deliveries`` (message id
        ``control:<random>``, seq 0), so ``channels status`` shows it afterwards too.

        Returns:
            The account's id and the receipt (with at least one message id).

        Raises:
            UnknownAccountError: The gateway runs no such channel or enabled account.
            ControlUnavailableError: The account is not running, or the gateway is stopping.
            SendRefusedError: Nothing, or only part, went out (``message_ids``).
        """
        monitor = self._monitor_for(channel, account_id)
        self._check_accepting()
        record = self.status_board.get(*monitor.key)
        state = record.state if record is not None else AccountState.STARTING
        if state is not AccountState.RUNNING:
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
        if receipt.error or not ids:
            error = Exception(receipt.error or "Zalo returned no message id")
            status = "partial" if ids else "failed"
            await self._record_send(monitor, key, request.target, status, ids, error)
            raise SendRefusedError(_error_line(error), message_ids=ids)
        await self._record_send(monitor, key, request.target, "sent", ids, None)
        return monitor.account.account_id, receipt

    async def _record_send(
        self,
        monitor: _Monitor,
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

    def _monitor_for(self, channel: str, account_id: str) -> _Monitor:
        if channel not in self.channels:
            running = ", ".join(sorted(self.channels)) or "none"
            raise UnknownAccountError(
                f"this gateway runs no channel {channel!r} (channels: {running})"
            )
        monitor = self._monitors.get((channel, account_id))
        if monitor is None:
            wanted = account_id.strip().lower()
            monitor = next(
                (m for (c, a), m in self._monitors.items() if c == channel and a.lower() == wanted),
                None,
            )
        if monitor is None:
            known = ", ".join(a for c, a in self._monitors if c == channel) or "none"
            raise UnknownAccountError(
                f"this gateway runs no {channel} account {account_id!r} (disabled, or not in"
                f" the config it started with; running: {known})"
            )
        return monitor

    def _check_accepting(self) -> None:
        if self._stop.is_set():
            raise ControlUnavailableError("the gateway is stopping")

    def _launch(self, monitor: _Monitor) -> None:
        """Start a supervisor task for ``monitor`` with a new stop event (fresh backoff)."""
        monitor.stop = asyncio.Event()
        monitor.settled = asyncio.Event()
        channel_id, account_id = monitor.key
        monitor.task = asyncio.create_task(
            self._supervise(monitor), name=f"monitor:{channel_id}:{account_id}"
        )

    async def _halt(self, monitor: _Monitor) -> None:
        """Stop ``monitor``'s current run (bounded like a shutdown) and wait for it."""
        monitor.stop.set()
        await self._reset_account(monitor)
        task = monitor.task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=self._shutdown_timeout * 0.4)
        if not done:
            log.warning("%s did not stop in time; cancelling it", task.get_name())
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=self._shutdown_timeout * 0.1)
        if not done:
            raise ControlUnavailableError(f"the {monitor.label} monitor did not stop")

    async def _reset_account(self, monitor: _Monitor) -> None:
        reset = getattr(monitor.channel, "reset_account", None)
        if not callable(reset):
            return
        try:
            await _maybe_await(reset(monitor.account))
        except Exception as exc:
            log.warning("%s could not reset its session: %s", monitor.label, redact(str(exc)))

    # -- supervision ---------------------------------------------------------------------

    async def _supervise(self, monitor: _Monitor) -> None:
        final = AccountState.STOPPED
        try:
            final = await self._run_with_restarts(monitor)
        finally:
            monitor.settled.set()
            self.status_board.update(*monitor.key, state=final, last_stop_at=now_ms())

    async def _run_with_restarts(self, monitor: _Monitor) -> AccountState:
        """Run the monitor until its stop event; return the final state (``stopped`` or
        ``failed``)."""
        channel, account, stop = monitor.channel, monitor.account, monitor.stop
        key, label = monitor.key, monitor.label
        normal = Backoff(self._backoff)
        slow = Backoff(self._slow_backoff)
        loop = asyncio.get_running_loop()
        known = self.status_board.get(*key)
        restarts = known.restarts if known is not None else 0
        while not stop.is_set():
            started_at = now_ms()
            started = loop.time()
            self.status_board.update(*key, state=AccountState.STARTING, last_start_at=started_at)
            run = asyncio.create_task(channel.run(account, stop), name=f"run:{label}")
            try:
                done, _ = await asyncio.wait({run}, timeout=self._startup_grace)
                if not done:
                    self.status_board.update(*key, state=AccountState.RUNNING)
                    monitor.settled.set()
                    log.info("%s monitor running", label)
                await run
            except asyncio.CancelledError:
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run
                raise
            except Exception as exc:
                if stop.is_set():
                    log.debug("%s monitor raised while stopping: %s", label, exc)
                    break
                state = classify_failure(exc)
                error = f"{type(exc).__name__}: {exc}"
                record = self.status_board.get(*key)
                inbound = record.last_inbound_at if record else None
                if loop.time() - started >= self._backoff.max_delay or (
                    inbound is not None and inbound >= started_at
                ):
                    normal.reset()  # it was healthy for a while: start the delays again
                    slow.reset()
                if state is AccountState.FAILED:
                    self.status_board.update(*key, state=state, last_error=error)
                    log.error("%s monitor failed and will not be restarted: %s", label, error)
                    return AccountState.FAILED
                restarts += 1
                delay = (slow if state is AccountState.UNAUTHORIZED else normal).next_delay()
                self.status_board.update(*key, state=state, last_error=error, restarts=restarts)
                monitor.settled.set()
                log.warning(
                    "%s monitor %s: %s; restarting in %.1fs",
                    label,
                    "unauthorized" if state is AccountState.UNAUTHORIZED else "failed",
                    error,
                    delay,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                continue
            if not stop.is_set():
                log.warning("%s monitor returned before the gateway stopped; not restarted", label)
            break
        return AccountState.STOPPED

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
        for monitor in self._monitors.values():
            monitor.stop.set()

    async def _stop_monitors(self) -> None:
        self._signal_stop()
        tasks = [m.task for m in self._monitors.values() if m.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout * 0.4)
        for task in pending:
            log.warning("%s did not stop in time; cancelling it", task.get_name())
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self._shutdown_timeout * 0.1)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("%s crashed: %s", task.get_name(), redact(str(task.exception())))

    async def _stop_inbox(self) -> None:
        if self.inbox is not None:
            await _maybe_await(self.inbox.stop(timeout=self._shutdown_timeout * 0.25))

    async def _close_channels(self) -> None:
        """Let channels release their clients (the optional ``aclose`` method)."""
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)
            if not callable(close):
                continue
            try:
                await _maybe_await(close())
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


def register_secret_values(obj: Any) -> None:
    """Register every secret-looking value in ``obj`` with the log redaction."""
    for secret in collect_secrets(obj):
        register_secret(secret)


def _error_line(exc: BaseException) -> str:
    """The first line of ``exc`` (redacted), or its type when it has no text."""
    lines = str(exc).strip().splitlines()
    return (redact(lines[0].strip()) if lines else "") or type(exc).__name__


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _is_echo(agent: Any) -> bool:
    for attr in ("id", "name", "kind"):
        if getattr(agent, attr, None) == "echo":
            return True
    return type(agent).__name__.lower().startswith("echo")


# -- default wiring (imported lazily: these modules sit in other packages) ------------------


def _default_agent(config: Any, store: Store) -> Any:
    from zalogate.agents import create_agent

    return create_agent(config, store)


def _default_handler(wiring: GatewayWiring) -> Handler:
    from zalogate.core.access import AccountPolicy, policy_from_settings
    from zalogate.core.agent import AgentTool
    from zalogate.core.channel import ToolContext
    from zalogate.core.pipeline import Pipeline, SessionOptions

    config = _config_model(wiring.config)
    options = SessionOptions(
        dm_scope=config.session.dm_scope,
        main_key=config.session.main_key,
        identity_links=config.session.identity_links,
    )
    policies: dict[tuple[str, str], AccountPolicy] = {}

    def policy_for(message: InboundMessage) -> AccountPolicy:
        key = (message.channel, message.account_id)
        policy = policies.get(key)
        if policy is None:
            channel = wiring.channels[message.channel]
            account = next(
                (a for a in channel.accounts() if a.account_id == message.account_id), None
            )
            if account is None:
                raise LookupError(f"unknown account {message.channel}/{message.account_id}")
            own = getattr(channel, "policy", None)
            if callable(own):
                # A channel that builds its own policy also decides when it may be cached:
                # zalouser's changes once the monitor has resolved names to ids.
                return cast(AccountPolicy, own(account))
            policy = policy_from_settings(
                message.channel,
                account.settings,
                defaults_group_policy=config.channels.defaults.group_policy,
                history_limit=config.messages.group_chat.history_limit,
                response_prefix=config.messages.response_prefix,
                text_chunk_limit=channel.text_limit,
            )
            policies[key] = policy
        return policy

    def tools_for(message: InboundMessage) -> Sequence[AgentTool]:
        # The optional Tools capability, looked up by name: channels arrive wrapped.
        channel = wiring.channels[message.channel]
        agent_tools = getattr(channel, "agent_tools", None)
        if not callable(agent_tools):
            return ()
        account = next((a for a in channel.accounts() if a.account_id == message.account_id), None)
        if account is None:
            return ()
        try:
            tools = agent_tools(account, ToolContext.from_message(message))
            return cast(Sequence[AgentTool], tools)
        except Exception:  # tools are extras: a broken provider must not block the reply
            log.exception("channel %s failed to list its agent tools", message.channel)
            return ()

    pipeline = Pipeline(
        store=wiring.store,
        channels=wiring.channels,
        policy_for=policy_for,
        agent=wiring.agent,
        session=options,
        tools=tools_for,
    )
    return pipeline.process


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


def _default_inbox(store: Store, handler: Handler) -> InboxLike:
    from zalogate.core.ingress import Inbox

    return Inbox(store, handler)


def configured_plugins(config: Any, state_dir: Path | None = None) -> list[ChannelPlugin]:
    """The enabled channel plugins whose ``channels.<id>`` section is written and enabled, or
    that have accounts without a section (``zalo`` with ``$ZALO_BOT_TOKEN``).

    The gateway starts these; ``zalogate mcp`` serves their tools.
    """
    from zalogate.runtime.plugins import discover_plugins, load_plugin

    channels_config = getattr(config, "channels", None)
    chosen: list[ChannelPlugin] = []
    for plugin_id in discover_plugins(config, state_dir=state_dir):
        if not _channel_configured(channels_config, plugin_id, config=config):
            log.debug("channel %s is not configured; not started", plugin_id)
            continue
        chosen.append(load_plugin(plugin_id))
    return chosen


def _channel_configured(channels_config: Any, plugin_id: str, *, config: Any = None) -> bool:
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
