"""``bench/http_transport.py`` runs with a tiny load and reports every path it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http_transport.py"

pytestmark = pytest.mark.slow


def test_http_transport_bench_reports_each_path() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "100"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for path in ("httpx2_default", "httpx2_lean", "lean_raw"):
        assert result[f"{path}_us_per_request"] > 0
    assert result["requests"] == 100
