"""Each loopback benchmark runs with a tiny load and prints a complete, correct JSON summary.

No timing is asserted (the figures belong in docs/performance.md): only that every message
got exactly one reply, so the scripts cannot rot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LATENCY_KEYS = {"p50_ms", "p90_ms", "p99_ms"}
BOTAPI_KEYS = {
    "accepted_per_s",
    "e2e_msgs_per_s",
    *LATENCY_KEYS,
    "replies",
    "duplicates",
    "missing",
    "rss_mb",
}

pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # exactly one JSON object on stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


def assert_exactly_one_reply_each(result: dict[str, Any], count: int) -> None:
    assert result["replies"] == count
    assert result["missing"] == 0
    assert result["duplicates"] == 0
    assert result["unexpected"] == 0


def test_webhook_closed_loop() -> None:
    result = run_bench(
        "zalo_webhook.py",
        "--messages",
        "30",
        "--users",
        "7",
        "--connections",
        "4",
        "--grace",
        "0.2",
    )
    assert result.keys() >= BOTAPI_KEYS
    assert_exactly_one_reply_each(result, 30)
    assert result["http_statuses"] == {"200": 30}  # the raised rate limit let every POST in
    assert result["rss_mb"] > 0
    # The host's steal time during the run (None off Linux): how a slow host is told apart.
    steal = result["steal_pct"]
    assert steal is None or 0.0 <= steal <= 100.0


def test_webhook_offered_load() -> None:
    result = run_bench(
        "zalo_webhook.py", "--messages", "20", "--users", "5", "--rate", "200", "--grace", "0.2"
    )
    assert result.keys() >= BOTAPI_KEYS
    assert result["offered_per_s"] == 200
    assert_exactly_one_reply_each(result, 20)


def test_polling() -> None:
    result = run_bench(
        "zalo_polling.py", "--messages", "20", "--users", "5", "--rate", "0", "--grace", "0.2"
    )
    assert result.keys() >= BOTAPI_KEYS
    assert_exactly_one_reply_each(result, 20)
    assert result["get_updates_calls"] >= 20  # one update per poll, as Zalo hands them out


def test_slow_agent() -> None:
    result = run_bench(
        "zalo_slow_agent.py", "--users", "6", "--llm-delay", "0.05", "--grace", "0.2"
    )
    assert {"msgs_per_s", *LATENCY_KEYS, "replies", "duplicates", "missing"} <= result.keys()
    assert_exactly_one_reply_each(result, 6)
    assert result["llm_completions"] == 6  # every reply came from the openai agent


def test_zalouser_e2e() -> None:
    result = run_bench(
        "zalouser_e2e.py",
        *("--users", "4", "--per-user", "2", "--accounts", "2", "--grace", "0.2"),
        *("--settle", "0.1"),
    )
    expected = {"msgs_per_s", "p50_ms", "p99_ms", "rss_idle_mb", "rss_per_extra_account_mb"}
    assert result.keys() >= expected
    assert_exactly_one_reply_each(result, 8)
    assert result["rss_idle_mb"] > 0
    assert result["rss_idle_accounts"] == 2


def test_steal_share_is_steal_over_all_ticks() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import loopback
    finally:
        sys.path.remove(str(BENCH))
    assert loopback.steal_pct((10, 1000), (40, 1300)) == 10.0
    assert loopback.steal_pct((10, 1000), (10, 1000)) is None  # no time passed
    assert loopback.steal_pct(None, (10, 1000)) is None
    ticks = loopback.cpu_ticks()
    if Path("/proc/stat").exists():
        assert ticks is not None
        assert 0 <= ticks[0] <= ticks[1]


def test_zalouser_accounts_bench() -> None:
    """A few accounts connect, idle and answer through their send governors."""
    result = run_bench(
        "zalouser_accounts.py",
        "--accounts",
        "3",
        "--per-account",
        "2",
        "--per-minute",
        "5",
        "--settle",
        "0.2",
    )
    assert (result["accounts"], result["connected"]) == (3, 3)
    assert (result["replies"], result["missing"]) == (6, 0)
    assert result["rss_idle_mb"] > 0


def test_core_pipeline() -> None:
    result = run_bench("core_pipeline.py", "--messages", "200", "--conversations", "20")
    assert result["messages"] == 200
    assert result["dead_lettered"] == 0
    assert result["processed_per_s"] > 0
