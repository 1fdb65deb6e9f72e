"""Benchmark: a slow agent, conversations in parallel.

A real gateway (child process) runs the ``openai`` agent against ``FakeLLMServer``, which
answers every chat completion after ``--llm-delay`` seconds (1 s). U allow-listed users each
POST one message to the gateway's webhook at the same moment (one connection each), playing
Zalo with ``FakeZaloBotApi`` receiving the replies. Serial processing would take U seconds;
the inbox runs different conversations in parallel. ``msgs_per_s`` counts replies from the
first POST to the last reply at the fake's ``sendMessage``; the latencies are per message.
Prints one JSON object::

    python bench/zalo_slow_agent.py [--users 100 --llm-delay 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import (
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    GatewayProcess,
    HttpConnection,
    check_replies,
    cost_summary,
    message_text,
    own_cpu_s,
    percentile,
    reply_summary,
    run_main,
    text_update,
    user_id,
    wait_until,
)
from zalo_webhook import gateway_config as webhook_config
from zalogate.testing.fake_botapi import FakeZaloBotApi

# The fake LLM runs in a process of its own: sharing this process's GIL with the fake Bot API
# and the load generator, its answers came late and slowed the run down.
_LLM_SCRIPT = """
import json
import sys
from zalogate.testing.fake_llm import FakeLLMServer
server = FakeLLMServer(delay=float(sys.argv[1]))
server.start()
print(server.base_url, server.model, flush=True)
sys.stdin.read()
server.stop()
done = server.completions
arrivals = {}
for r in done:
    users = [m["content"] for m in r.json["messages"] if m.get("role") == "user"]
    arrivals[users[-1] if users else ""] = r.received_at
print(json.dumps({"peak": server.peak_active, "completions": len(done), "arrivals": arrivals}))
"""


@contextlib.asynccontextmanager
async def fake_llm(delay: float) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """``FakeLLMServer(delay=...)`` in a child process: yields its base URL, model name and a
    dict that holds ``peak`` (concurrent requests), ``completions`` and ``arrivals`` (user
    text -> ``time.time()`` the request arrived) once the block is left."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LLM_SCRIPT,
        str(delay),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    stats: dict[str, Any] = {}
    try:
        base_url, model = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().split()
        yield base_url, model, stats
    finally:
        child.stdin.close()
        tail = await asyncio.wait_for(child.stdout.read(), 30)
        await child.wait()
        stats.update(json.loads(tail) if tail.strip() else {})


def gateway_config(fake: FakeZaloBotApi, llm_url: str, model: str, users: int) -> dict[str, Any]:
    """The webhook account of ``zalo_webhook`` plus the ``openai`` agent at the fake LLM."""
    config = webhook_config(fake, users)
    config["agent"] = {
        "type": "openai",
        "openai": {"baseUrl": llm_url, "model": model, "apiKey": "bench-not-secret"},
    }
    return config


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = secrets.token_hex(3)
    headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    bodies = [
        json.dumps(text_update(i, user_id(i), message_text(i), run_id)).encode()
        for i in range(args.users)
    ]
    sent_at: dict[int, float] = {}
    statuses: dict[int, int] = {}
    async with fake_llm(args.llm_delay) as (llm_url, model, llm_stats), FakeZaloBotApi() as fake:
        config = gateway_config(fake, llm_url, model, args.users)
        async with GatewayProcess(config, webhook_rate_limit=10 * args.users + 1000) as gw:
            await wait_until(lambda: bool(fake.bot.webhook_url), 30, "the gateway's setWebhook")
            cpu_before, driver_before = gw.cpu_s(), own_cpu_s()
            connections = [HttpConnection(gw.host, gw.port) for _ in range(args.users)]

            answered: dict[int, float] = {}

            async def post(index: int) -> None:
                sent_at[index] = time.time()
                try:
                    status, _ = await connections[index].post(WEBHOOK_PATH, bodies[index], headers)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    status = 0
                answered[index] = time.time()
                statuses[status] = statuses.get(status, 0) + 1

            begin = time.time()
            await asyncio.gather(*(post(i) for i in range(args.users)))
            with contextlib.suppress(TimeoutError):
                await fake.wait_for_sent(args.users, timeout=args.reply_timeout)
            await asyncio.sleep(args.grace)  # a duplicate would show up now
            _, peak_rss = gw.rss_mb()
            gateway_cpu = gw.cpu_s() - cpu_before
            driver_cpu = own_cpu_s() - driver_before
            for connection in connections:
                await connection.close()
        replies = [(record.text, record.time) for record in fake.sent]
        typing: dict[str, float] = {}
        for call in fake.chat_actions:
            typing.setdefault(str(call.payload.get("chat_id")), call.time)
        replied = {record.chat_id: record.time for record in fake.sent}
    arrivals: dict[str, float] = llm_stats.get("arrivals", {})
    check = check_replies(sent_at, replies)
    finished = check.last_reply_at or time.time()
    return {
        "users": args.users,
        "llm_delay_s": args.llm_delay,
        "msgs_per_s": round(len(check.latencies) / max(finished - begin, 1e-9), 1),
        "elapsed_s": round(finished - begin, 3),
        **reply_summary(check),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "llm_completions": llm_stats.get("completions", 0),
        "llm_peak_concurrent": llm_stats.get("peak", 0),
        "stages_ms": stage_summary(
            args.users, args.llm_delay, begin, answered, typing, arrivals, replied
        ),
        **cost_summary(args.users, gateway_cpu, peak_rss, driver_cpu),
    }


def stage_summary(
    users: int,
    llm_delay: float,
    begin: float,
    answered: dict[int, float],
    typing: dict[str, float],
    arrivals: dict[str, float],
    replied: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Where the time goes: each stage's median and max over the messages, in ms.

    ``accepted`` (first POST to the webhook's 200), ``to_typing`` and ``to_llm`` (200 to the
    typing call at the fake Bot API, and to the completion request at the fake LLM),
    ``after_llm`` (the LLM's answer, ``llm_delay`` after its request, to the reply at
    ``sendMessage``).
    """
    stages: dict[str, list[float]] = {
        "accepted": [],
        "to_typing": [],
        "to_llm": [],
        "after_llm": [],
    }
    for index in range(users):
        chat, text = user_id(index), message_text(index)
        accepted = answered.get(index)
        if accepted is None:
            continue
        stages["accepted"].append(accepted - begin)
        if chat in typing:
            stages["to_typing"].append(typing[chat] - accepted)
        if text in arrivals:
            stages["to_llm"].append(arrivals[text] - accepted)
            if chat in replied:
                stages["after_llm"].append(replied[chat] - arrivals[text] - llm_delay)
    return {
        name: {
            "p50": round(percentile(values, 50) * 1000, 1),
            "max": round(max(values, default=0.0) * 1000, 1),
        }
        for name, values in stages.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--llm-delay", type=float, default=1.0, help="seconds per completion")
    run_main(parser, run, argv, fast_loop=True)


if __name__ == "__main__":
    main()
