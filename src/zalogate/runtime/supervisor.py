"""One supervised monitor per enabled channel account: restarts with backoff, control.

A monitor (``channel.run(account, stop)``) that raises is restarted with a jittered backoff
(1 s to 30 s by default); one that keeps failing never affects the other accounts. The failure
is classified once, by :func:`zalogate.core.errors.classify`:

* ``UNAUTHORIZED`` -> state ``unauthorized``, retried slowly (30 s to 5 min by default);
* ``FATAL`` -> state ``failed``, not restarted;
* anything else -> state ``backoff``, restarted.

One account can be restarted or stopped while the others run. Each account has a stop event
of its own, which is the one its monitor gets; on a restart or stop on request the channel's
``reset_account`` hook runs right after that event is set, to drop what it holds of the
account's session without saving it (so the next run starts from the saved credentials).

In cluster mode the supervisor has a lease gate (:class:`AccountLeases`): a monitor runs only
while this node holds its account's lease, stands by (state ``standby``) while another node
does, and stops when the lease is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.core.channel import Channel, ChannelAccount
from zalogate.core.errors import FailureKind, classify
from zalogate.runtime.control import ControlUnavailableError, UnknownAccountError
from zalogate.runtime.logging import redact
from zalogate.runtime.status import AccountState, AccountStatus, StatusBoard, now_ms

__all__ = ["AccountLeases", "Monitor", "Supervisor", "classify_failure"]

log = logging.getLogger("zalogate.gateway")

_STATES = {
    FailureKind.UNAUTHORIZED: AccountState.UNAUTHORIZED,
    FailureKind.FATAL: AccountState.FAILED,
}


def classify_failure(exc: BaseException) -> AccountState:
    """Map a monitor's exception to ``unauthorized``, ``failed`` or ``backoff``."""
    return _STATES.get(classify(exc), AccountState.BACKOFF)


class AccountLeases(Protocol):
    """One owner per account across nodes (``zalogate.cluster.leases`` fits)."""

    def hold(
        self, account: tuple[str, str], stop: asyncio.Event
    ) -> AbstractAsyncContextManager[asyncio.Event | None]:
        """Wait for the lease (or ``stop``); yield the event set when it is lost, or None."""
        ...


@dataclass(slots=True, eq=False)
class Monitor:
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


class Supervisor:
    """Runs, restarts and stops the monitors of every enabled account.

    Args:
        status: Where each account's state is recorded.
        backoff: Restart delays after a monitor failure.
        slow_backoff: Restart delays after an authorisation failure.
        startup_grace: Seconds a monitor must survive before it counts as ``running``.
        shutdown_timeout: The gateway's upper bound for a shutdown, in seconds.
        stopping: Tells whether the gateway is stopping (control requests are refused then).
        leases: The lease gate in cluster mode (None: every monitor runs here).
    """

    def __init__(
        self,
        status: StatusBoard,
        *,
        backoff: BackoffConfig,
        slow_backoff: BackoffConfig,
        startup_grace: float,
        shutdown_timeout: float,
        stopping: Callable[[], bool],
        leases: AccountLeases | None = None,
    ) -> None:
        self.status = status
        self._backoff = backoff
        self._slow_backoff = slow_backoff
        self._startup_grace = startup_grace
        self._shutdown_timeout = shutdown_timeout
        self._stopping = stopping
        self.leases = leases
        self.monitors: dict[tuple[str, str], Monitor] = {}

    # -- starting and finding ------------------------------------------------------------

    def start(self, channel: Channel, account: ChannelAccount) -> Monitor:
        """Register ``account`` and launch its monitor."""
        self.status.register(channel.id, account.account_id)
        monitor = Monitor(channel, account)
        self.monitors[monitor.key] = monitor
        self._launch(monitor)
        return monitor

    def find(self, channels: Mapping[str, Channel], channel: str, account_id: str) -> Monitor:
        """The monitor of ``channel``/``account_id`` (account ids match case-insensitively).

        Raises:
            UnknownAccountError: No such channel or enabled account.
        """
        if channel not in channels:
            running = ", ".join(sorted(channels)) or "none"
            raise UnknownAccountError(
                f"this gateway runs no channel {channel!r} (channels: {running})"
            )
        monitor = self.monitors.get((channel, account_id))
        if monitor is None:
            wanted = account_id.strip().lower()
            monitor = next(
                (m for (c, a), m in self.monitors.items() if c == channel and a.lower() == wanted),
                None,
            )
        if monitor is None:
            known = ", ".join(a for c, a in self.monitors if c == channel) or "none"
            raise UnknownAccountError(
                f"this gateway runs no {channel} account {account_id!r} (disabled, or not in"
                f" the config it started with; running: {known})"
            )
        return monitor

    def check_accepting(self) -> None:
        """Raise :class:`ControlUnavailableError` once the gateway is stopping."""
        if self._stopping():
            raise ControlUnavailableError("the gateway is stopping")

    # -- control ---------------------------------------------------------------------------

    async def restart(self, monitor: Monitor) -> AccountStatus:
        """Stop ``monitor`` if it runs (or waits in backoff), then start it again, with fresh
        restart delays; wait (a little longer than the startup grace) for the new run to leave
        ``starting``."""
        async with monitor.lock:
            self.check_accepting()
            await self._halt(monitor)
            self.check_accepting()
            self.status.clear_reports(*monitor.key)
            self.status.update(*monitor.key, last_error=None, reason=None)
            self._launch(monitor)
            log.info("%s monitor restarted on request", monitor.label)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(monitor.settled.wait(), timeout=self._startup_grace + 1.0)
        return self.status.get(*monitor.key) or self.status.register(*monitor.key)

    async def stop(self, monitor: Monitor, reason: str) -> AccountStatus:
        """Stop ``monitor`` and leave it stopped, its status ``stopped`` with ``reason``."""
        async with monitor.lock:
            self.check_accepting()
            await self._halt(monitor)
            record = self.status.update(
                *monitor.key, state=AccountState.STOPPED, reason=reason, last_stop_at=now_ms()
            )
        log.info("%s monitor stopped on request (%s)", monitor.label, reason)
        return record

    def signal_stop(self) -> None:
        """Set every account's stop event."""
        for monitor in self.monitors.values():
            monitor.stop.set()

    async def stop_all(self) -> None:
        """Stop every monitor (bounded in time; stragglers are cancelled)."""
        self.signal_stop()
        tasks = [m.task for m in self.monitors.values() if m.task is not None]
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

    def _launch(self, monitor: Monitor) -> None:
        """Start a supervisor task for ``monitor`` with a new stop event (fresh backoff)."""
        monitor.stop = asyncio.Event()
        monitor.settled = asyncio.Event()
        channel_id, account_id = monitor.key
        monitor.task = asyncio.create_task(
            self._supervise(monitor), name=f"monitor:{channel_id}:{account_id}"
        )

    async def _halt(self, monitor: Monitor) -> None:
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

    async def _reset_account(self, monitor: Monitor) -> None:
        try:
            await monitor.channel.reset_account(monitor.account)
        except Exception as exc:
            log.warning("%s could not reset its session: %s", monitor.label, redact(str(exc)))

    # -- supervision -------------------------------------------------------------------------

    async def _supervise(self, monitor: Monitor) -> None:
        final = AccountState.STOPPED
        try:
            if self.leases is None:
                final = await self._run_with_restarts(monitor, monitor.stop)
            else:
                final = await self._run_leased(monitor, self.leases)
        finally:
            monitor.settled.set()
            self.status.update(*monitor.key, state=final, last_stop_at=now_ms())

    async def _run_leased(self, monitor: Monitor, leases: AccountLeases) -> AccountState:
        """Run the monitor whenever this node holds the account's lease, until its stop; serve
        the account's inbound routes (a webhook behind a load balancer) all along."""
        serving = asyncio.create_task(self._serve_inbound(monitor), name=f"inbound:{monitor.label}")
        try:
            return await self._hold_and_run(monitor, leases)
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving

    async def _serve_inbound(self, monitor: Monitor) -> None:
        try:
            await monitor.channel.serve_inbound(monitor.account, monitor.stop)
        except Exception as exc:  # the holder still serves it through its run()
            log.warning("%s: inbound routes not served on this node: %s", monitor.label, exc)

    async def _hold_and_run(self, monitor: Monitor, leases: AccountLeases) -> AccountState:
        while not monitor.stop.is_set():
            self.status.update(*monitor.key, state=AccountState.STANDBY)
            monitor.settled.set()
            async with leases.hold(monitor.key, monitor.stop) as lost:
                if lost is None:
                    break
                tenure = asyncio.Event()
                watch = asyncio.create_task(_set_on_first(tenure, monitor.stop, lost))
                try:
                    final = await self._run_with_restarts(monitor, tenure)
                finally:
                    watch.cancel()
                if final is AccountState.FAILED or monitor.stop.is_set():
                    return final
                if lost.is_set():
                    log.warning("%s lease lost: the monitor moves to another node", monitor.label)
                else:
                    return final
        return AccountState.STOPPED

    async def _run_with_restarts(self, monitor: Monitor, stop: asyncio.Event) -> AccountState:
        """Run the monitor until ``stop``; return the final state (``stopped`` or ``failed``)."""
        channel, account = monitor.channel, monitor.account
        key, label = monitor.key, monitor.label
        normal = Backoff(self._backoff)
        slow = Backoff(self._slow_backoff)
        loop = asyncio.get_running_loop()
        known = self.status.get(*key)
        restarts = known.restarts if known is not None else 0
        while not stop.is_set():
            started_at = now_ms()
            started = loop.time()
            self.status.update(*key, state=AccountState.STARTING, last_start_at=started_at)
            run = asyncio.create_task(channel.run(account, stop), name=f"run:{label}")
            try:
                done, _ = await asyncio.wait({run}, timeout=self._startup_grace)
                if not done:
                    self.status.update(*key, state=AccountState.RUNNING)
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
                record = self.status.get(*key)
                inbound = record.last_inbound_at if record else None
                if loop.time() - started >= self._backoff.max_delay or (
                    inbound is not None and inbound >= started_at
                ):
                    normal.reset()  # it was healthy for a while: start the delays again
                    slow.reset()
                if state is AccountState.FAILED:
                    self.status.update(*key, state=state, last_error=error)
                    log.error("%s monitor failed and will not be restarted: %s", label, error)
                    return AccountState.FAILED
                restarts += 1
                delay = (slow if state is AccountState.UNAUTHORIZED else normal).next_delay()
                self.status.update(*key, state=state, last_error=error, restarts=restarts)
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


async def _set_on_first(target: asyncio.Event, *sources: asyncio.Event) -> None:
    """Set ``target`` as soon as one of ``sources`` is set."""
    waits = [asyncio.create_task(source.wait()) for source in sources]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        target.set()
    finally:
        for wait in waits:
            wait.cancel()
