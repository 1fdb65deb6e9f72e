"""timed_probe_result: the outcome as given, plus the time since ``started``."""

from __future__ import annotations

import time

from zalogate.core.probe_timing import timed_probe_result


def test_fields_pass_through_and_the_elapsed_time_is_counted_from_started() -> None:
    result = timed_probe_result(
        ok=False,
        detail="no session",
        identity={"userId": "1"},
        warnings=["w"],
        started=time.monotonic() - 2.0,
    )
    assert (result.ok, result.detail, dict(result.identity), list(result.warnings)) == (
        False,
        "no session",
        {"userId": "1"},
        ["w"],
    )
    assert result.elapsed_ms is not None
    assert result.elapsed_ms >= 2000
