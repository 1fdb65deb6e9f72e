"""Benchmark: the ``zalouser`` channel end to end, and the memory of idle accounts.

``FakeZaloPersonal`` runs in this process (HTTP API and the listener websocket); a real
gateway runs in a child process with the ``zalouser`` channel logged in from a saved
session and the echo agent. U simulated friends of the bot each send M direct messages, one
after the other (the next once the previous one's reply arrived), all users at once:
simulator -> websocket -> gateway (inbox, pipeline, echo) -> send API -> simulator.
Latency is from the simulated user's send to the echo reply reaching the fake's send API
(noticed as the fake records it, through ``FakeZaloPersonal.on_sent``). The bench process runs
on the gateway's event loop (uvloop unless ``ZALOGATE_EVENT_LOOP=asyncio``): it is the load
generator, and ``driver_cpu_ms_per_msg`` should stay far below the gateway's cost.

Memory: ``rss_idle_mb`` is the RSS of an idle gateway with one logged-in account (listener
connected, nothing to do, ``--settle`` seconds after start-up); ``rss_per_extra_account_mb`` is
(RSS with A accounts - RSS with one) / (A - 1), each measured in a fresh gateway process.
Prints one JSON object::

    python bench/zalouser_e2e.py [--users 200 --per-user 10 --accounts 6]
    python bench/zalouser_e2e.py --max-in-flight 0   # messages.delivery.maxInFlight (0: no cap)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import (
    GatewayProcess,
    check_replies,
    cost_summary,
    index_of,
    message_text,
    own_cpu_s,
    reply_summary,
    run_main,
)
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.personal import Credentials
from zalogate.runtime.eventloop import loop_factory
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import SentRecord

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
BOT = "1001"


def bot_uid(number: int) -> str:
    """The simulated uid of bot account ``number`` (0 is the benchmark's bot)."""
    return f"{int(BOT) + number}"


def friend_uid(index: int) -> str:
    """The simulated uid of friend ``index``."""
    return f"{3_000_000 + index}"


def gateway_config(fake: FakeZaloPersonal, accounts: int, users: int) -> dict[str, Any]:
    """``accounts`` zalouser accounts (profiles ``default``, ``a1``...) at the fake; DMs from
    the simulated friends are allow-listed."""
    section: dict[str, Any] = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
        "dmPolicy": "allowlist",
        "allowFrom": [friend_uid(i) for i in range(users)],
        # The send governor's ban-safe pacing (20 messages a minute by default) would measure
        # the governor, not the gateway: off here (0 turns a limit off).
        "limits": {
            "messagesPerMinute": 0,
            "conversationMessagesPerMinute": 0,
            "strangersPerDay": 0,
            "newConversationsPerHour": 0,
        },
    }
    if accounts > 1:
        section["accounts"] = {"default": {}, **{f"a{n}": {} for n in range(1, accounts)}}
    return {"channels": {"zalouser": section}}


def save_sessions(fake: FakeZaloPersonal, accounts: int) -> Callable[[Path], None]:
    """A ``prepare`` hook saving each bot account's session as after a QR login."""

    def prepare(state_dir: Path) -> None:
        store = CredentialStore(state_dir)
        for number in range(accounts):
            uid = bot_uid(number)
            raw = fake.credentials(uid, user_agent=USER_AGENT, domain="127.0.0.1")
            profile = "default" if number == 0 else f"a{number}"
            store.save(profile, Credentials.from_json(raw), uid=uid)

    return prepare


async def idle_rss(fake: FakeZaloPersonal, accounts: int, users: int, settle: float) -> float:
    """RSS (MiB) of an idle gateway process with ``accounts`` logged-in accounts."""
    config = gateway_config(fake, accounts, users)
    async with GatewayProcess(config, prepare=save_sessions(fake, accounts)) as gw:
        for number in range(accounts):
            await fake.wait_for_listener(bot_uid(number), timeout_s=30)
        await asyncio.sleep(settle)  # let start-up garbage settle
        current, _ = gw.rss_mb()
        return current


async def round_trips(args: argparse.Namespace, fake: FakeZaloPersonal) -> dict[str, Any]:
    total = args.users * args.per_user
    sent_at: dict[int, float] = {}
    arrived: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(total)}
    stamped: list[tuple[str | None, float]] = []
    config = gateway_config(fake, 1, args.users)
    if args.max_in_flight is not None:
        config["messages"] = {"delivery": {"maxInFlight": args.max_in_flight}}
    async with GatewayProcess(config, prepare=save_sessions(fake, 1)) as gw:
        await fake.wait_for_listener(BOT, timeout_s=30)
        # What exists now (modules, the fake's world, the gateway handle) lives for the whole
        # run: keep the collector from scanning it again and again.
        gc.freeze()
        cpu_before, driver_before = gw.cpu_s(), own_cpu_s()

        def noticed(record: SentRecord) -> None:
            if record.kind != "text":
                return
            stamped.append((record.text, time.time()))
            index = index_of(record.text)
            if index is not None and index in arrived:
                arrived[index].set()

        async def user(number: int) -> None:
            scripted = fake.user(friend_uid(number))
            for turn in range(args.per_user):
                index = number * args.per_user + turn
                sent_at[index] = time.time()
                await scripted.says_to(BOT, message_text(index))
                try:
                    async with asyncio.timeout(args.reply_timeout):
                        await arrived[index].wait()
                except TimeoutError:
                    return  # counted as missing

        stop_noticing = fake.on_sent(noticed)
        begin = time.time()
        await asyncio.gather(*(user(n) for n in range(args.users)))
        await asyncio.sleep(args.grace)  # a duplicate would show up now
        stop_noticing()
        gateway_cpu = gw.cpu_s() - cpu_before
        driver_cpu = own_cpu_s() - driver_before
        _, peak_rss = gw.rss_mb()
    check = check_replies(sent_at, stamped)
    finished = check.last_reply_at or time.time()
    return {
        "messages": total,
        "users": args.users,
        "msgs_per_s": round(len(check.latencies) / max(finished - begin, 1e-9), 1),
        **reply_summary(check),
        **cost_summary(max(total, 1), gateway_cpu, peak_rss, driver_cpu=driver_cpu, load_avg=False),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        for number in range(max(args.accounts, 1)):
            friends = tuple(friend_uid(i) for i in range(args.users)) if number == 0 else ()
            fake.add_account(bot_uid(number), f"Bench Bot {number}", friends=friends)
        for i in range(args.users):
            fake.add_account(friend_uid(i), f"Friend {i}")
        result = await round_trips(args, fake)
        result["rss_idle_mb"] = round(await idle_rss(fake, 1, args.users, args.settle), 1)
        if args.accounts > 1:
            many = await idle_rss(fake, args.accounts, args.users, args.settle)
            result["rss_idle_accounts"] = args.accounts
            result["rss_idle_many_mb"] = round(many, 1)
            result["rss_per_extra_account_mb"] = round(
                (many - result["rss_idle_mb"]) / (args.accounts - 1), 2
            )
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=10, help="messages per user")
    parser.add_argument("--accounts", type=int, default=6, help="accounts in the RSS run")
    parser.add_argument("--settle", type=float, default=1.5, help="idle seconds before RSS")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="messages.delivery.maxInFlight"
    )
    factory = loop_factory()
    if factory is not None:
        asyncio.set_event_loop_policy(_LoopPolicy(factory))
    run_main(parser, run, argv, reply_timeout=60.0)


class _LoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Makes ``asyncio.run`` (in ``run_main``) create the chosen loop."""

    def __init__(self, factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        super().__init__()
        self._factory = factory

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return self._factory()


if __name__ == "__main__":
    main()
