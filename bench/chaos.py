"""Chaos runs: a real gateway (child process) under faults an operator's bad day brings.

Scenarios (each prints one JSON object)::

    python bench/chaos.py kill --mode webhook [--messages 1000 --users 100 --kills 6]
    python bench/chaos.py kill --mode polling
    python bench/chaos.py kill --max-in-flight 20    # messages.delivery.maxInFlight
    python bench/chaos.py sockets [--idle 1100 --nofile 1024]
    python bench/chaos.py outage [--outage 300 --messages 200]

``kill``: the fake Zalo (``FakeZaloBotApi``, this process) receives ``--messages`` texts from
``--users`` users; the gateway (echo agent answering after 50-200 ms, real SQLite inbox) runs
in a child process that is SIGKILLed ``--kills`` times at random moments and restarted on the
same state dir and port. In webhook mode the fake redelivers an update until the gateway
answers 200 (as Zalo retries); in polling mode the gateway takes updates with ``getUpdates``.
Reported: replies ``lost`` (never sent), ``duplicated`` (sent more than once) in all and per
kill (a resend counts against the kill that cut the previous send off: the first kill after
Zalo recorded it).

``sockets``: the gateway runs with ``RLIMIT_NOFILE`` ``--nofile``; this process opens
``--idle`` sockets to it from 127.0.0.2 (half send nothing, half an unfinished header), then
times ``/healthz`` and a webhook POST from 127.0.0.1, and how long the idle sockets stay open.

``outage``: Zalo answers every ``sendMessage`` with HTTP 502 for ``--outage`` seconds while
``--messages`` texts arrive; then it recovers. Reported: replies lost, duplicated, dead
letters (``/healthz``) and how long after the recovery every message was answered (the
inbox's retry backoff is capped at 60 s).

The child is this file too: ``python bench/chaos.py serve --config C --state-dir D --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import WEBHOOK_SECRET, WEBHOOK_URL, emit, user_id, zalo_config

HERE = Path(__file__).resolve()


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the child --------------------------------------------------------------------------------


class SlowEcho:
    """Echoes the text after ``low``-``high`` seconds (an agent thinking)."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    async def respond(self, turn: Any) -> AsyncIterator[Any]:
        from zalogate.core.model import ReplyPayload

        await asyncio.sleep(random.uniform(self.low, self.high))
        if turn.text:
            yield ReplyPayload(text=turn.text)


async def _serve(args: argparse.Namespace) -> None:
    from zalogate.channels.zalo.channel import OPTIONS_EXTRA, ZaloChannelOptions
    from zalogate.channels.zalo.webhook import WebhookOptions
    from zalogate.config import parse_config
    from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin
    from zalogate.runtime.gateway import Gateway
    from zalogate.runtime.plugins import load_plugin

    data = json.loads(Path(args.config).read_text())  # noqa: ASYNC240 - once, at start-up
    config = parse_config(data, env=dict(os.environ), source=args.config)
    plugin = load_plugin("zalo")
    # The webhook's per-IP limit (120 requests/min) would refuse the fake on 127.0.0.1.
    options = ZaloChannelOptions(webhook=WebhookOptions(rate_limit=1_000_000))

    def create(context: ChannelContext) -> Channel:
        context.extras[OPTIONS_EXTRA] = options
        return plugin.create(context)

    if args.nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    gateway = Gateway(
        config,
        state_dir=Path(args.state_dir),
        agent=SlowEcho(args.agent_min, args.agent_max),
        channels=[ChannelPlugin(id=plugin.id, label=plugin.label, create=create)],
        http_host="127.0.0.1",
        http_port=args.port,
        handle_signals=True,
        console_log=False,
    )
    async with gateway:
        sys.stdout.write(json.dumps({"url": gateway.url}) + "\n")
        sys.stdout.flush()
        await gateway.wait()


# -- the parent -------------------------------------------------------------------------------


class Child:
    """The gateway child process on a fixed state dir and port."""

    def __init__(self, config: dict[str, Any], root: Path, port: int, **options: Any) -> None:
        self.root = root
        self.port = port
        self.config_file = root / "config.json"
        self.config_file.write_text(json.dumps(config))
        self.options = options
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        args = [str(HERE), "serve", "--config", str(self.config_file)]
        args += ["--state-dir", str(self.root / "state"), "--port", str(self.port)]
        for key, value in self.options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        stderr = (self.root / "gateway.stderr").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=subprocess.PIPE, stderr=stderr
        )
        stderr.close()
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        if not line:
            tail = (self.root / "gateway.stderr").read_text()[-2000:]
            raise RuntimeError(f"the gateway did not start: {tail}")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


def _text(index: int) -> str:
    return f"chaos {index}"


def _index(text: str | None) -> int | None:
    if text and text.startswith("chaos ") and text[6:].isdigit():
        return int(text[6:])
    return None


async def kill_run(args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the gateway ``kills`` times while it answers ``messages`` texts."""
    from zalogate.testing.fake_botapi import FakeZaloBotApi

    rng = random.Random(args.seed)
    port = free_port()
    retry = [0.05, 0.2, *([0.5] * 240)]  # Zalo retries; the gateway may be down a while
    async with FakeZaloBotApi(webhook_retry_delays=retry, webhook_concurrency=32) as fake:
        if args.mode == "webhook":
            fake.deliver_webhooks_to = f"http://127.0.0.1:{port}"
            mode = {"webhookUrl": WEBHOOK_URL, "webhookSecret": WEBHOOK_SECRET}
        else:
            mode = {}
        config = zalo_config(fake.token, fake.base_url, args.users, mode)
        config["gateway"] = {"port": port}
        if args.max_in_flight is not None:
            config["messages"] = {"delivery": {"maxInFlight": args.max_in_flight}}
        with _state_root(args) as tmp:
            child = Child(
                config, Path(tmp), port, agent_min=args.agent_min, agent_max=args.agent_max
            )
            await child.start()
            users = [fake.user(user_id(i), name=f"User {i}") for i in range(args.users)]
            started = time.monotonic()
            for index in range(args.messages):
                users[index % args.users].says(_text(index), message_id=f"m{index:06d}")
            kill_times: list[float] = []
            for _ in range(args.kills):
                await asyncio.sleep(rng.uniform(args.kill_min, args.kill_max))
                await child.kill()
                kill_times.append(time.monotonic())
                await child.start()
            answered = await _wait_answered(fake, args.messages, args.settle)
            await asyncio.sleep(args.grace)
            await child.stop()
            resent = _resent_in_flight(Path(tmp) / "state" / "outbox.log")
    return {**_kill_summary(args, fake.sent, kill_times, started, answered), **resent}


def _resent_in_flight(path: Path) -> dict[str, int]:
    """From the outbox log: chunks sent on a replay or retry (an intent, ``sending`` or
    ``resending``, is noted only then: the only chunks that may be duplicates), chunks resent
    after an unknown outcome (``resending``) and chunks given up (``abandoned``)."""
    history: dict[tuple[Any, ...], list[str]] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):
                item = json.loads(line)
                history.setdefault(tuple(item["k"]), []).append(item["s"])
    return {
        "resent_in_flight": sum("sending" in h or "resending" in h for h in history.values()),
        "resent_unknown": sum("resending" in h for h in history.values()),
        "abandoned": sum("abandoned" in h for h in history.values()),
    }


@contextlib.contextmanager
def _state_root(args: argparse.Namespace) -> Any:
    """A temporary root for the child's state, kept with ``--keep`` (to look at)."""
    if args.keep:
        root = tempfile.mkdtemp(prefix="zalogate-chaos-kept-")
        sys.stderr.write(f"state kept in {root}\n")
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="zalogate-chaos-") as tmp:
        yield tmp


async def _wait_answered(fake: Any, count: int, settle: float) -> float:
    """Wait until ``count`` distinct messages were answered or nothing moved for ``settle`` s."""
    last, moved = -1, time.monotonic()
    while True:
        seen = {_index(r.text) for r in fake.sent} - {None}
        if len(seen) >= count:
            return time.monotonic()
        if len(fake.sent) != last:
            last, moved = len(fake.sent), time.monotonic()
        elif time.monotonic() - moved > settle:
            return time.monotonic()
        await asyncio.sleep(0.05)


def _kill_summary(
    args: argparse.Namespace,
    sent: Sequence[Any],
    kill_times: Sequence[float],
    started: float,
    answered: float,
) -> dict[str, Any]:
    to_mono = time.monotonic() - time.time()
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    per_kill = [0] * max(1, len(kill_times))
    duplicates = 0
    for record in sent:
        index = _index(record.text)
        if index is None:
            continue
        at = record.time + to_mono
        if index not in first:
            first[index] = last[index] = at
            continue
        duplicates += 1
        if args.dump:
            sys.stderr.write(
                f"dup {index}: first {first[index] - started:.3f}"
                f" again {at - started:.3f} kills {[round(k - started, 3) for k in kill_times]}\n"
            )
        # The kill that cut the previous send off: the first one after Zalo recorded it.
        after = [k for k, t in enumerate(kill_times) if t >= last[index]]
        per_kill[after[0] if after else len(per_kill) - 1] += 1
        last[index] = at
    lost = args.messages - len(first)
    return {
        "scenario": "kill",
        "mode": args.mode,
        "messages": args.messages,
        "users": args.users,
        "kills": len(kill_times),
        "agent_ms": [int(args.agent_min * 1000), int(args.agent_max * 1000)],
        "lost": lost,
        "duplicated": duplicates,
        "duplicated_per_kill": per_kill,
        "max_duplicated_per_kill": max(per_kill),
        "lost_per_kill": round(lost / max(1, len(kill_times)), 2),
        "max_in_flight": args.max_in_flight,
        "seconds": round(answered - started, 1),
    }


# -- outage ----------------------------------------------------------------------------------


async def outage_run(args: argparse.Namespace) -> dict[str, Any]:
    """Zalo refuses every send (HTTP 502) for ``--outage`` seconds while messages arrive."""
    from zalogate.testing.fake_botapi import FakeZaloBotApi

    port = free_port()
    async with FakeZaloBotApi(webhook_concurrency=8) as fake:
        fake.deliver_webhooks_to = f"http://127.0.0.1:{port}"
        mode = {"webhookUrl": WEBHOOK_URL, "webhookSecret": WEBHOOK_SECRET}
        config = zalo_config(fake.token, fake.base_url, args.users, mode)
        with tempfile.TemporaryDirectory(prefix="zalogate-chaos-") as tmp:
            child = Child(config, Path(tmp), port, agent_min=0.0, agent_max=0.01)
            await child.start()
            try:
                fake.fail_next("sendMessage", 502, count=10**9)
                started = time.monotonic()
                users = [fake.user(user_id(i)) for i in range(args.users)]
                for index in range(args.messages):
                    users[index % args.users].says(_text(index), message_id=f"o{index:06d}")
                await asyncio.sleep(args.outage)
                fake._faults.clear()  # Zalo is back
                back = time.monotonic()
                answered = await _wait_answered(fake, args.messages, args.settle)
                health = await _health(port)
            finally:
                await child.stop()
    counts: dict[int, int] = {}
    for record in fake.sent:
        index = _index(record.text)
        if index is not None:
            counts[index] = counts.get(index, 0) + 1
    return {
        "scenario": "outage",
        "outage_s": args.outage,
        "messages": args.messages,
        "answered": len(counts),
        "lost": args.messages - len(counts),
        "duplicated": sum(c - 1 for c in counts.values()),
        "refused_sends": sum(1 for c in fake.calls if c.method == "sendMessage") - len(fake.sent),
        "all_answered_s_after_recovery": round(answered - back, 1),
        "dead_letters": sum(int(a.get("deadLetters") or 0) for a in health),
        "seconds": round(answered - started, 1),
    }


async def _health(port: int) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return list(body.get("accounts") or [])


# -- idle sockets -------------------------------------------------------------------------------


async def sockets_run(args: argparse.Namespace) -> dict[str, Any]:
    """Open ``idle`` silent/unfinished sockets, then time ``/healthz`` and the webhook."""
    from zalogate.testing.fake_botapi import FakeZaloBotApi

    port = free_port()
    async with FakeZaloBotApi() as fake:
        fake.deliver_webhooks_to = f"http://127.0.0.1:{port}"
        mode = {"webhookUrl": WEBHOOK_URL, "webhookSecret": WEBHOOK_SECRET}
        config = zalo_config(fake.token, fake.base_url, 1, mode)
        with tempfile.TemporaryDirectory(prefix="zalogate-chaos-") as tmp:
            child = Child(config, Path(tmp), port, nofile=args.nofile, agent_min=0, agent_max=0)
            await child.start()
            try:
                return await _abuse(args, fake, port)
            finally:
                await child.stop()


async def _abuse(args: argparse.Namespace, fake: Any, port: int) -> dict[str, Any]:
    idle: list[socket.socket] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 512)), hard))
    opened_at = time.monotonic()
    for n in range(args.idle):
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((args.source, 0))
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        idle.append(sock)
        if n % 2:
            with contextlib.suppress(OSError):
                await asyncio.sleep(0)
                sock.send(b"POST /zalo-webhook HTTP/1.1\r\nHost: x\r\n")
    await asyncio.sleep(1.0)
    health_s = await _timed_get(port, "/healthz", args.answer_timeout)
    fake.user(user_id(0)).says("chaos 0", message_id="sock0")
    t0 = time.monotonic()
    replied = await _wait_reply(fake, args.answer_timeout)
    webhook_s = round(time.monotonic() - t0, 2) if replied else None
    closed_after = await _wait_closed(idle, opened_at, args.close_timeout)
    for sock in idle:
        sock.close()
    return {
        "scenario": "sockets",
        "idle": args.idle,
        "nofile": args.nofile,
        "healthz_s": health_s,
        "webhook_reply_s": webhook_s,
        "idle_closed_within_s": closed_after,
        "goal": "healthz and webhook answer within 5 s; idle sockets closed within 15 s",
    }


async def _timed_get(port: int, path: str, timeout: float) -> float | None:  # noqa: ASYNC109
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), timeout)
        writer.close()
    except (OSError, TimeoutError):
        return None
    return round(time.monotonic() - start, 3) if b" 200 " in status else None


async def _wait_reply(fake: Any, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.text == "chaos 0" for r in fake.sent):
            return True
        await asyncio.sleep(0.05)
    return False


async def _wait_closed(idle: list[socket.socket], since: float, timeout: float) -> float | None:  # noqa: ASYNC109
    """Seconds until the server closed every idle socket (None: not within ``timeout``)."""
    open_ = list(idle)
    while open_ and time.monotonic() - since < timeout:
        still = []
        for sock in open_:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                still.append(sock)
                continue
            except OSError:
                continue
            if data:
                continue  # an answer (e.g. 408/503) then the close
        open_ = still
        await asyncio.sleep(0.1)
    return None if open_ else round(time.monotonic() - since, 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--config", required=True)
    serve.add_argument("--state-dir", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--nofile", type=int, default=0)
    serve.add_argument("--agent-min", type=float, default=0.05)
    serve.add_argument("--agent-max", type=float, default=0.2)
    kill = sub.add_parser("kill")
    kill.add_argument("--mode", choices=("webhook", "polling"), default="webhook")
    kill.add_argument("--messages", type=int, default=1000)
    kill.add_argument("--users", type=int, default=100)
    kill.add_argument("--kills", type=int, default=6)
    kill.add_argument("--kill-min", type=float, default=0.5)
    kill.add_argument("--kill-max", type=float, default=2.0)
    kill.add_argument("--agent-min", type=float, default=0.05)
    kill.add_argument("--agent-max", type=float, default=0.2)
    kill.add_argument("--settle", type=float, default=15.0)
    kill.add_argument("--grace", type=float, default=1.0)
    kill.add_argument("--seed", type=int, default=None)
    kill.add_argument("--keep", action="store_true", help="keep the state dir")
    kill.add_argument("--dump", action="store_true", help="list duplicated replies")
    kill.add_argument(
        "--max-in-flight", type=int, default=None, help="messages.delivery.maxInFlight"
    )
    sockets = sub.add_parser("sockets")
    sockets.add_argument("--idle", type=int, default=1100)
    sockets.add_argument("--nofile", type=int, default=1024)
    sockets.add_argument("--source", default="127.0.0.2")
    sockets.add_argument("--answer-timeout", type=float, default=5.0)
    sockets.add_argument("--close-timeout", type=float, default=30.0)
    outage = sub.add_parser("outage")
    outage.add_argument("--outage", type=float, default=300.0)
    outage.add_argument("--messages", type=int, default=200)
    outage.add_argument("--users", type=int, default=20)
    outage.add_argument("--settle", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args))
    elif args.command == "kill":
        emit(asyncio.run(kill_run(args)))
    elif args.command == "outage":
        emit(asyncio.run(outage_run(args)))
    else:
        emit(asyncio.run(sockets_run(args)))


if __name__ == "__main__":
    main()
