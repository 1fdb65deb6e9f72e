"""A `ProbeResult` stamped with the time the probe took."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from zalogate.core.channel import ProbeResult

__all__ = ["timed_probe_result"]


def timed_probe_result(
    *,
    ok: bool,
    detail: str,
    identity: Mapping[str, Any],
    warnings: Sequence[str],
    started: float,
) -> ProbeResult:
    """The probe's outcome; ``elapsed_ms`` counts from ``started`` (a `time.monotonic` value)."""
    return ProbeResult(
        ok=ok,
        detail=detail,
        identity=identity,
        warnings=warnings,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )
