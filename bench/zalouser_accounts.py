"""Benchmark: a hundred ``zalouser`` accounts in one gateway process.

``FakeZaloPersonal`` runs in this process; a real gateway runs in a child process with A
accounts (profiles ``a0``…), each logged in from a saved session with its listener connected
to the fake. Measured:

* ``connected``: listeners connected within ``--connect-timeout`` seconds;
* ``rss_idle_mb``: RSS of the gateway once all are connected and ``--settle`` seconds idle
  (goal: at most 150 MB for 100 accounts);
* paced sends: one friend per account sends ``--per-account`` messages at once; the echo
  agent's replies go through each account's send governor (``--per-minute`` messages per
  conversation). ``max_replies_per_window`` is the most replies one account sent within any
  60 s window (never above its limit), ``paced_replies`` how many waited for their turn
  (``per-account - per-minute`` per account once the burst exceeds the limit).

Prints one JSON object::

    python bench/zalouser_accounts.py [--accounts 100 --per-account 3 --per-minute 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import GatewayProcess, run_main
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.personal import Credentials
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import SentRecord

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOAL_RSS_MB = 150.0


def bot_uid(number: int) -> str:
    return f"{1_000_000 + number}"


def friend_uid(number: int) -> str:
    return f"{3_000_000 + number}"


def config(fake: FakeZaloPersonal, accounts: int, per_minute: int) -> dict[str, Any]:
    """A accounts at the fake; each account's friend is allow-listed; the governor paces each
    conversation at ``per_minute`` (waiting up to two minutes for a turn)."""
    section: dict[str, Any] = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
        "dmPolicy": "allowlist",
        "allowFrom": [friend_uid(n) for n in range(accounts)],
        "groupPolicy": "disabled",
        "limits": {"conversationMessagesPerMinute": per_minute, "maxWaitSeconds": 120},
        "accounts": {f"a{n}": {} for n in range(accounts)},
    }
    return {"channels": {"zalouser": section}}


def save_sessions(fake: FakeZaloPersonal, accounts: int) -> Callable[[Path], None]:
    def prepare(state_dir: Path) -> None:
        store = CredentialStore(state_dir)
        for number in range(accounts):
            raw = fake.credentials(bot_uid(number), user_agent=USER_AGENT, domain="127.0.0.1")
            store.save(f"a{number}", Credentials.from_json(raw), uid=bot_uid(number))

    return prepare


async def run(args: argparse.Namespace) -> dict[str, Any]:
    accounts = args.accounts
    async with FakeZaloPersonal(long_poll_s=0.5) as fake:
        for n in range(accounts):
            fake.add_account(bot_uid(n), f"Bench Bot {n}", friends=(friend_uid(n),))
            fake.add_account(friend_uid(n), f"Friend {n}")
        started = time.monotonic()
        async with GatewayProcess(
            config(fake, accounts, args.per_minute), prepare=save_sessions(fake, accounts)
        ) as gw:

            async def connected(number: int) -> bool:
                try:
                    await fake.wait_for_listener(bot_uid(number), timeout_s=args.connect_timeout)
                except TimeoutError:
                    return False
                return True

            up = sum(await asyncio.gather(*(connected(n) for n in range(accounts))))
            connect_s = time.monotonic() - started
            await asyncio.sleep(args.settle)
            rss_idle, _ = gw.rss_mb()

            sent_at: dict[str, list[float]] = defaultdict(list)
            expected = accounts * args.per_account
            all_in = asyncio.Event()

            def noticed(record: SentRecord) -> None:
                if record.kind == "text":
                    sent_at[record.thread_id].append(time.monotonic())
                    if sum(map(len, sent_at.values())) >= expected:
                        all_in.set()

            stop_noticing = fake.on_sent(noticed)
            begin = time.monotonic()
            for n in range(accounts):
                friend = fake.user(friend_uid(n))
                for i in range(args.per_account):
                    await friend.says_to(bot_uid(n), f"m{n}-{i}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.reply_timeout):
                    await all_in.wait()
            await asyncio.sleep(args.grace)
            stop_noticing()
            _, rss_peak = gw.rss_mb()
    replies = sum(map(len, sent_at.values()))

    def most_in_a_minute(times: list[float]) -> int:
        times = sorted(times)
        # 59 s: the replies are stamped where the fake records them, a few ms after the send
        return max((sum(1 for t in times if s <= t < s + 59.0) for s in times), default=0)

    per_window = max((most_in_a_minute(t) for t in sent_at.values()), default=0)
    paced = sum(max(0, len(t) - args.per_minute) for t in sent_at.values())
    return {
        "accounts": accounts,
        "connected": up,
        "connect_s": round(connect_s, 1),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_idle_goal_mb": GOAL_RSS_MB,
        "rss_idle_per_account_mb": round(rss_idle / max(accounts, 1), 2),
        "rss_peak_mb": round(rss_peak, 1),
        "replies": replies,
        "missing": max(0, expected - replies),
        "per_minute_limit": args.per_minute,
        "max_replies_per_window": per_window,
        "paced_replies": paced,
        "send_span_s": round(time.monotonic() - begin - args.grace, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--per-account", type=int, default=3, help="messages to each account")
    parser.add_argument("--per-minute", type=int, default=2, help="limit per conversation")
    parser.add_argument("--connect-timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before RSS")
    run_main(parser, run, argv, reply_timeout=150.0)


if __name__ == "__main__":
    main()
