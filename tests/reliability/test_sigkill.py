"""SIGKILL a real gateway at random moments (``bench/chaos.py kill``, CI-sized).

Webhook: nothing is lost (an update is acknowledged only once journalled; Zalo redelivers
the rest) and every duplicate is a chunk whose send was cut off by a kill (the outbox log's
``resending``), never one that was confirmed. Polling: at most one update per kill is lost
(one handed out by ``getUpdates`` at the instant of the kill), with the same duplicate rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def chaos(*args: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, str(CHAOS), *args], capture_output=True, text=True, timeout=240, check=True
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    sys.stdout.write(f"{result}\n")  # the figures, with -s
    return result


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["webhook", "polling"])
def test_sigkill_loses_nothing_and_duplicates_only_cut_off_sends(mode: str) -> None:
    kills = 3
    result = chaos(
        "kill",
        "--mode",
        mode,
        "--messages",
        "300",
        "--users",
        "30",
        "--kills",
        str(kills),
        "--kill-min",
        "0.3",
        "--kill-max",
        "1.0",
        "--seed",
        "7",
    )
    assert result["kills"] == kills
    if mode == "webhook":
        assert result["lost"] == 0
    else:
        assert result["lost"] <= kills
    assert result["duplicated"] <= result["resent_in_flight"]
