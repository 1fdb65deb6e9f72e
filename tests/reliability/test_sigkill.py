"""SIGKILL a real gateway at random moments (``bench/chaos.py kill``, CI-sized).

Webhook: nothing is lost (an update is acknowledged only once journalled; Zalo redelivers
the rest) and at most one reply is duplicated per kill: with ``maxInFlight`` 1 (the default)
one send per account is on the wire at a kill, and only a chunk sent on a replay or retry may
be a duplicate, never one that was confirmed. Polling: at most one update per kill is lost
(one handed out by ``getUpdates`` at the instant of the kill), with the same duplicate rule.
No timing is asserted.
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
def test_sigkill_loses_nothing_and_duplicates_at_most_one_per_kill(mode: str) -> None:
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
    assert result["max_duplicated_per_kill"] <= 1, result["duplicated_per_kill"]
    assert result["duplicated"] <= result["resent_in_flight"]
