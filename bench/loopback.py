"""Shared parts of the loopback benchmarks: a real gateway in a child process, a lean
keep-alive HTTP/1.1 client, Bot API update bodies, reply matching and the JSON summary.

The gateway runs in its own process (one core for it, one for the fake Zalo and the load
generator on a 2-core machine), started by this file itself::

    python bench/loopback.py serve --config cfg.json --state-dir DIR [--webhook-rate-limit N]

It builds the installed channel plugin exactly as ``zalogate gateway run`` does, plus the
benchmark's channel options (``ZaloChannelOptions.webhook.rate_limit``: the webhook's
per-IP limit of 120 requests/60 s would refuse a load generator on 127.0.0.1), prints one
line ``{"url": ...}`` on stdout once it listens, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httptools

__all__ = [
    "GatewayProcess",
    "HttpConnection",
    "ReplyCheck",
    "check_replies",
    "cost_summary",
    "emit",
    "latency_summary",
    "percentile",
    "reply_summary",
    "run_main",
    "text_update",
    "with_offered_rate",
    "zalo_config",
]

HERE = Path(__file__).resolve()
WEBHOOK_URL = "https://bench.zalogate.invalid/zalo-webhook"
WEBHOOK_PATH = "/zalo-webhook"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"


# -- numbers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0 for an empty list)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """``p50_ms``/``p90_ms``/``p99_ms``/``max_ms`` of latencies given in seconds."""
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p90_ms": round(percentile(seconds, 90) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds, default=0.0) * 1000, 2),
    }


def cost_summary(
    messages: int,
    gateway_cpu: float,
    peak_rss: float,
    driver_cpu: float | None = None,
    idle_rss: float | None = None,
    *,
    load_avg: bool = True,
) -> dict[str, float]:
    """CPU milliseconds per message (gateway, then driver), RSS (peak, then idle) in MiB and,
    unless ``load_avg`` is false, the machine's 1-minute load average."""
    summary = {"gateway_cpu_ms_per_msg": round(gateway_cpu / messages * 1000, 3)}
    if driver_cpu is not None:
        summary["driver_cpu_ms_per_msg"] = round(driver_cpu / messages * 1000, 3)
    summary["rss_mb"] = peak_rss
    if idle_rss is not None:
        summary["rss_idle_mb"] = idle_rss
    if load_avg:
        summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return summary


def with_offered_rate(result: dict[str, Any], rate: float) -> dict[str, Any]:
    """``result`` plus ``offered_per_s`` when the run was paced at ``rate`` messages/s."""
    if rate > 0:
        result["offered_per_s"] = rate
    return result


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of the whole machine from ``/proc/stat``; None where it is
    missing (not Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user .. steal (guest is inside user)
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of the machine's CPU time the hypervisor gave to other guests between two
    :func:`cpu_ticks` readings: a slow host shows here, not in the load average."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]) * 100, 1)


def emit(result: Mapping[str, Any]) -> None:
    """Print the one JSON object a benchmark outputs."""
    json.dump(dict(result), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


# -- Bot API payloads and reply matching --------------------------------------------------


def zalo_config(token: str, base_url: str, users: int, mode: Mapping[str, Any]) -> dict[str, Any]:
    """One ``zalo`` account at a fake Bot API with ``mode``'s keys (polling or webhook);
    the first ``users`` simulated users are allow-listed."""
    return {
        "channels": {
            "zalo": {
                "botToken": token,
                "apiBaseUrl": base_url,
                **mode,
                "dmPolicy": "allowlist",
                "allowFrom": [user_id(i) for i in range(users)],
            }
        }
    }


def user_id(index: int) -> str:
    """A Zalo-shaped numeric user id for simulated user ``index``."""
    return f"{7_100_000_000_000_000_000 + index}"


def text_update(index: int, sender: str, text: str, run: str) -> dict[str, Any]:
    """A ``message.text.received`` update as Zalo (and ``FakeZaloBotApi``) sends it."""
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": sender, "is_bot": False, "display_name": f"User {sender[-4:]}"},
            "chat": {"id": sender, "chat_type": "PRIVATE"},
            "message_id": f"{run}{index:08x}",
            "date": int(time.time() * 1000),
            "text": text,
        },
    }


def message_text(index: int) -> str:
    """The text of message ``index``; the echo reply carries it back."""
    return f"bench message {index}"


def index_of(text: str | None) -> int | None:
    """The message index an echo reply answers, if it is one."""
    if not text or not text.startswith("bench message "):
        return None
    tail = text[len("bench message ") :]
    return int(tail) if tail.isdigit() else None


@dataclass(slots=True)
class ReplyCheck:
    """Replies matched to the messages sent."""

    replies: int = 0
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    latencies: list[float] = field(default_factory=list)
    last_reply_at: float = 0.0


def check_replies(
    sent_at: Mapping[int, float], replies: Iterable[tuple[str | None, float]]
) -> ReplyCheck:
    """Match echo replies ``(text, arrival time)`` to the messages' ``sent_at`` times."""
    check = ReplyCheck()
    seen: set[int] = set()
    for text, arrived in replies:
        index = index_of(text)
        if index is None or index not in sent_at:
            check.unexpected += 1
            continue
        check.replies += 1
        if index in seen:
            check.duplicates += 1
            continue
        seen.add(index)
        check.latencies.append(arrived - sent_at[index])
        check.last_reply_at = max(check.last_reply_at, arrived)
    check.missing = len(sent_at) - len(seen)
    return check


def reply_summary(check: ReplyCheck) -> dict[str, Any]:
    """The latency percentiles and the reply counts of ``check``, as a benchmark reports them."""
    return {
        **latency_summary(check.latencies),
        "replies": check.replies,
        "duplicates": check.duplicates,
        "missing": check.missing,
        "unexpected": check.unexpected,
    }


async def wait_for_count(count: Any, target: int, timeout: float, poll: float = 0.005) -> bool:  # noqa: ASYNC109
    """Wait until ``count()`` reaches ``target``, polling every ``poll`` seconds.

    (The Bot API benches wait on ``FakeZaloBotApi.wait_for_sent`` instead: woken once.)
    """
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


# -- a lean HTTP/1.1 client ----------------------------------------------------------------


class _ClientProtocol(asyncio.Protocol):
    """The socket side of ``HttpConnection``: writes a request, parses the answer (httptools)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self._fail(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ValueError(f"bad HTTP response: {exc}"))
            if self.transport is not None:
                self.transport.abort()

    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result((status, b"".join(self._body), not self._parser.should_keep_alive()))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        """Write one request; the future gets ``(status, body, server closes)``."""
        if self.transport is None or self._waiter is not None:
            raise ConnectionError("the connection is closed or busy")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return waiter


class HttpConnection:
    """One keep-alive HTTP/1.1 connection (a load generator must cost less than the server).

    An asyncio protocol with httptools' response parser: a POST costs one write, one future
    and the parse, no stream reader lines.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._protocol: _ClientProtocol | None = None
        self._host_header = f"Host: {host}:{port}\r\n"

    async def _connect(self) -> _ClientProtocol:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_ClientProtocol, self.host, self.port)
            self._protocol = protocol
        return protocol

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body``; returns the status and the response body."""
        protocol = await self._connect()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\n{self._host_header}{head}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        try:
            status, content, close = await protocol.request(request)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        """Close the connection (a later ``post`` reconnects)."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


# -- the gateway in a child process --------------------------------------------------------


def read_rss_mb(pid: int) -> tuple[float, float]:
    """``(current, peak)`` resident set size of process ``pid`` in MiB (Linux /proc)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    return round(values["VmRSS"], 1), round(values["VmHWM"], 1)


def own_cpu_s() -> float:
    """CPU seconds used so far by this process (the fakes and the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields 14 and 15 (utime, stime) of proc(5), counted after the ")" of the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GatewayProcess:
    """``async with GatewayProcess(config) as gw:`` runs a gateway in a child process.

    Args:
        config: The root config (a JSON-able mapping, as in a config file).
        webhook_rate_limit: Webhook requests allowed per minute and client IP.
        extra_args: More arguments for ``serve``.
        prepare: Called with the (empty) state dir before the gateway starts (e.g. to save
            a personal account's session there).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        webhook_rate_limit: int | None = None,
        extra_args: Sequence[str] = (),
        prepare: Callable[[Path], None] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.prepare = prepare
        self.config = dict(config)
        self.webhook_rate_limit = webhook_rate_limit
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.state_dir = Path()

    async def __aenter__(self) -> GatewayProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="zalogate-bench-")
        root = Path(self._tmp.name)
        if os.environ.get("ZALOGATE_BENCH_KEEP"):  # keep the state dir and log to look at
            root = Path(tempfile.mkdtemp(prefix="zalogate-bench-kept-"))
            sys.stderr.write(f"gateway state kept in {root}\n")
        self._root = root
        self.state_dir = root / "state"
        if self.prepare is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.prepare(self.state_dir)
        config_file = root / "config.json"
        config_file.write_text(json.dumps(self.config))
        args = [
            str(HERE),
            "serve",
            "--config",
            str(config_file),
            "--state-dir",
            str(self.state_dir),
        ]
        if self.webhook_rate_limit is not None:
            args += ["--webhook-rate-limit", str(self.webhook_rate_limit)]
        args += self.extra_args
        self._stderr = (root / "gateway.stderr").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), self.start_timeout)
            ready = json.loads(line)
        except (TimeoutError, ValueError) as exc:
            await self._kill()
            raise RuntimeError(f"the gateway did not start: {self.stderr_tail()}") from exc
        self.url = str(ready["url"])
        host_port = self.url.split("//", 1)[1]
        self.host, _, port = host_port.rpartition(":")
        self.port = int(port)
        return self

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of the child's stderr (for error messages)."""
        if self._tmp is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._root / "gateway.stderr").read_text()[-limit:]
        return ""

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process is not None
        return self.process.pid

    def cpu_s(self) -> float:
        """CPU seconds the gateway process used so far."""
        return read_cpu_s(self.pid)

    def rss_mb(self) -> tuple[float, float]:
        """``(current, peak)`` RSS of the gateway process in MiB."""
        return read_rss_mb(self.pid)

    async def _kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self._kill()
        self._stderr.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


async def wait_until(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll ``predicate()`` until true; raise ``RuntimeError`` naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, Mapping[str, Any]]],
    argv: Sequence[str] | None,
    *,
    reply_timeout: float = 120.0,
    fast_loop: bool = False,
) -> None:
    """A benchmark's ``main``: add the reply-wait options, parse ``argv``, emit ``run(args)``.

    ``fast_loop``: run the bench process on the gateway's loop choice (uvloop unless
    ``ZALOGATE_EVENT_LOOP=asyncio``) and without the cyclic garbage collector, so that the
    simulator costs less than what it measures and never stalls in the middle of a run.
    """
    parser.add_argument("--reply-timeout", type=float, default=reply_timeout)
    parser.add_argument("--grace", type=float, default=0.5, help="wait for duplicates (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # The fake logs a ClientDisconnect when the stopping gateway drops its open long-poll.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    ticks = cpu_ticks()
    if fast_loop:
        from zalogate.runtime import eventloop

        # The load generator's objects live until the run ends: a collection pass over
        # them mid-run stalls the pacer (and counts against the gateway's latency).
        gc.collect()
        gc.freeze()
        gc.disable()
        result = eventloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    emit({**result, "steal_pct": steal_pct(ticks, cpu_ticks())})


# -- child: serve ----------------------------------------------------------------------------


def _channel_extras(args: argparse.Namespace) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if args.webhook_rate_limit is not None:
        from zalogate.channels.zalo.channel import OPTIONS_EXTRA, ZaloChannelOptions
        from zalogate.channels.zalo.webhook import WebhookOptions

        extras[OPTIONS_EXTRA] = ZaloChannelOptions(
            webhook=WebhookOptions(rate_limit=args.webhook_rate_limit)
        )
    return extras


async def _serve(args: argparse.Namespace) -> None:
    from zalogate.config import parse_config
    from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin
    from zalogate.runtime.gateway import Gateway
    from zalogate.runtime.plugins import load_plugin

    data = json.loads(Path(args.config).read_text())  # noqa: ASYNC240 - once, at start-up
    config = parse_config(data, env=dict(os.environ), source=args.config)
    extras = _channel_extras(args)
    plugins: list[ChannelPlugin] = []
    for channel_id in sorted(data.get("channels") or {}):
        plugin = load_plugin(channel_id)

        def create(context: ChannelContext, plugin: ChannelPlugin = plugin) -> Channel:
            context.extras.update(extras)
            return plugin.create(context)

        plugins.append(ChannelPlugin(id=plugin.id, label=plugin.label, create=create))
    gateway = Gateway(
        config,
        state_dir=Path(args.state_dir),
        channels=plugins,
        http_host="127.0.0.1",
        http_port=0,
        handle_signals=True,
        console_log=False,
    )
    async with gateway:
        sys.stdout.write(json.dumps({"url": gateway.url}) + "\n")
        sys.stdout.flush()
        await gateway.wait()
        closer = getattr(gateway.agent, "aclose", None)
        if callable(closer):
            await closer()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a gateway for a benchmark (child process)")
    serve.add_argument("--config", required=True)
    serve.add_argument("--state-dir", required=True)
    serve.add_argument("--webhook-rate-limit", type=int, default=None)
    args = parser.parse_args(argv)
    from zalogate.runtime import eventloop

    profile_to = os.environ.get("ZALOGATE_BENCH_PROFILE")
    if not profile_to:
        eventloop.run(_serve(args))  # uvloop unless ZALOGATE_EVENT_LOOP=asyncio
        return
    # Profiling the gateways of a benchmark run: ZALOGATE_BENCH_PROFILE=/tmp/gw.prof writes
    # /tmp/gw.prof.<pid> per gateway process.
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: the machine is shared
    profiler.enable()
    try:
        eventloop.run(_serve(args))  # uvloop unless ZALOGATE_EVENT_LOOP=asyncio
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}.{os.getpid()}")


if __name__ == "__main__":
    main()
