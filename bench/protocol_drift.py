"""Protocol drift watch: the zca-js conformance suite against the pinned and the newest zca-js.

Zalo changes its web protocol without notice and zca-js follows (zca-js issues 271, 296, 317).
This command runs ``tests/conformance`` twice, with the pinned zca-js (``package.json``) and
with the newest release on npm (``npm view zca-js version``, or ``--newest VERSION``), while
the strict fake logs the shape of every session call (method, path, query and parameter
names with their JSON types, ``zpw_ver``/``zpw_type``, refusals; never a value). It prints one
JSON object: both versions, whether each run passed, and what changed on the wire: endpoints
added or removed, parameters added, removed or retyped per endpoint, client versions, and the
calls of the newest zca-js the strict fake refused. Non-blocking: it is not part of the
default test suite; run it by hand or as a separate CI step::

    python bench/protocol_drift.py [--newest 2.3.0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests" / "conformance"
WIRE_LOG_ENV = "ZALOGATE_FAKE_WIRE_LOG"


def pinned_version() -> str:
    package = json.loads((SUITE / "js" / "package.json").read_text())
    return str(package["dependencies"]["zca-js"])


def newest_version() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to find the newest zca-js (or pass --newest VERSION)")
    done = subprocess.run(
        [npm, "view", "zca-js", "version"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"npm view zca-js version failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def run_suite(version: str, timeout: float) -> tuple[bool, str, list[dict[str, Any]]]:
    """Run the conformance suite with zca-js ``version``; (passed, summary, wire lines)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "wire.jsonl"
        env = {**os.environ, "ZALOGATE_ZCAJS_VERSION": version, WIRE_LOG_ENV: str(log)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        summary = lines[-1] if lines else done.stderr.strip()[-300:]
        wire = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return done.returncode == 0, summary, wire


def shapes(wire: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per ``METHOD path``: parameter names and types, query names, client versions."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"params": {}, "query": set(), "zpw_ver": set(), "refused": set()}
    )
    for call in wire:
        shape = out[f"{call['method']} {call['path']}"]
        shape["params"].update(call["params"])
        shape["query"].update(call["query"])
        shape["zpw_ver"].add(call["zpw_ver"])
        if call["refused"]:
            shape["refused"].add(call["refused"])
    return out


def diff(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What changed on the wire from ``old`` to ``new``."""
    changed: dict[str, Any] = {}
    for endpoint in sorted(set(old) & set(new)):
        a, b = old[endpoint]["params"], new[endpoint]["params"]
        entry = {
            "params_added": sorted(set(b) - set(a)),
            "params_removed": sorted(set(a) - set(b)),
            "params_retyped": sorted(k for k in set(a) & set(b) if a[k] != b[k]),
            "query_added": sorted(new[endpoint]["query"] - old[endpoint]["query"]),
            "query_removed": sorted(old[endpoint]["query"] - new[endpoint]["query"]),
        }
        if any(entry.values()):
            changed[endpoint] = entry
    versions = {v for s in new.values() for v in s["zpw_ver"]}
    old_versions = {v for s in old.values() for v in s["zpw_ver"]}
    return {
        "endpoints_added": sorted(set(new) - set(old)),
        "endpoints_removed": sorted(set(old) - set(new)),
        "endpoints_changed": changed,
        "zpw_ver": {"pinned": sorted(old_versions - {None}), "newest": sorted(versions - {None})},
        "refused_newest": {e: sorted(s["refused"]) for e, s in new.items() if s["refused"]},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--newest", help="the version to compare with (default: npm's newest)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per suite run")
    args = parser.parse_args(argv)
    pinned = pinned_version()
    newest = args.newest or newest_version()
    ok_pinned, summary_pinned, wire_pinned = run_suite(pinned, args.timeout)
    if newest == pinned:
        ok_newest, summary_newest, wire_newest = ok_pinned, summary_pinned, wire_pinned
    else:
        ok_newest, summary_newest, wire_newest = run_suite(newest, args.timeout)
    result = {
        "pinned": pinned,
        "newest": newest,
        "pinned_passed": ok_pinned,
        "newest_passed": ok_newest,
        "pinned_summary": summary_pinned,
        "newest_summary": summary_newest,
        "calls": {"pinned": len(wire_pinned), "newest": len(wire_newest)},
        **diff(shapes(wire_pinned), shapes(wire_newest)),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
