"""Decode throughput of encrypted, gzipped 501 websocket frames: our decoder vs zca-js's.

Builds N realistic 501 frames (``encrypt`` 2: AES-GCM + gzip, one text message each) with the
fake server's independent encoder, decodes them on one core (best of 3 passes) with
``zalogate.personal.frames`` (the listener's decoder: header, envelope, AES-GCM with tag
verification, inflate, JSON), then with zca-js's own ``decodeEventData`` in Node
(``bench/js/decode_frames.mjs``), and prints one JSON object:
``{frames, py_frames_per_s, node_frames_per_s, ratio, ...}`` (ratio = py / node).
``py_with_events_frames_per_s`` also turns each payload into a typed ``UserMessage``; the
``*_per_cpu_s`` figures divide by CPU time instead of wall time (a fairer view of one core when
the machine is shared).

zca-js is installed once into ``~/.cache/zalogate-conformance/zca-js-<version>`` (the same
cache as the conformance test; override with ``ZALOGATE_CONFORMANCE_CACHE``).
Run: ``python bench/personal_frames.py [--frames 20000]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zalogate.personal import frames
from zalogate.personal.events import UserMessage, parse_event
from zalogate.testing.fake_personal import wire

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_JSON = ROOT / "tests" / "conformance" / "js" / "package.json"
REPEATS = 3  # best of N passes: the machine may be shared, throughput is what we compare
NODE_SCRIPT = Path(__file__).resolve().parent / "js" / "decode_frames.mjs"


def make_frames(count: int, key: bytes) -> list[bytes]:
    """``count`` distinct 501 frames as the server sends them (fresh IV/AAD each)."""
    out = []
    for i in range(count):
        msg = {
            "actionId": str(1000 + i),
            "msgId": str(7_000_000_000_000 + i),
            "cliMsgId": str(1_700_000_000_000 + i),
            "msgType": "webchat",
            "uidFrom": "2000000000000000001",
            "idTo": "0",
            "dName": "Alice Nguyễn",
            "ts": str(1_700_000_000_000 + i),
            "status": 1,
            "content": f"Xin chào, đây là tin nhắn số {i} 👋 — hello from the benchmark",
            "notify": "1",
            "ttl": 0,
            "userId": "0",
            "uin": "0",
            "topOut": "0",
            "topOutTimeOut": "0",
            "topOutImprTimeOut": "0",
            "paramsExt": {"countUnread": 1, "containType": 0, "platformType": 1},
            "cmd": 501,
            "st": 3,
            "at": 5,
            "realMsgId": "0",
        }
        envelope = wire.encode_event({"data": {"msgs": [msg]}, "error_code": 0}, encrypt=2, key=key)
        out.append(wire.encode_frame(501, 0, envelope))
    return out


def python_decoder(key: bytes, *, with_events: bool = False) -> Callable[[bytes], Any]:
    """The listener's hot path: header, envelope, AES-GCM (tag verified), inflate, JSON.

    ``with_events`` adds what the listener does next: typed events (``parse_event``).
    """
    cipher = frames.EventCipher(key)
    decode = cipher.decode_frame
    if not with_events:
        return lambda frame: decode(frame)[2]

    def decode_and_parse(frame: bytes) -> Any:
        cmd, sub_cmd, payload = decode(frame)
        (event,) = parse_event(cmd, sub_cmd, payload, own_uid="1001")
        assert isinstance(event, UserMessage)
        return payload

    return decode_and_parse


def bench_python(
    frames_: list[bytes], key: bytes, *, with_events: bool = False
) -> tuple[float, float]:
    """Best (wall-clock, CPU-time) frames per second over ``REPEATS`` passes."""
    decode = python_decoder(key, with_events=with_events)
    for frame in frames_[: min(2000, len(frames_))]:
        decode(frame)
    best_wall = best_cpu = 0.0
    for _ in range(REPEATS):
        start, cpu_start = time.perf_counter(), time.process_time()
        for frame in frames_:
            data = decode(frame)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        best_wall = max(best_wall, len(frames_) / wall)
        best_cpu = max(best_cpu, len(frames_) / cpu)
        assert data["data"]["msgs"][0]["cmd"] == 501
    return best_wall, best_cpu


def zcajs_dist() -> Path:
    version = json.loads(PACKAGE_JSON.read_text())["dependencies"]["zca-js"]
    override = os.environ.get("ZALOGATE_CONFORMANCE_CACHE")
    cache = Path(override) if override else Path.home() / ".cache" / "zalogate-conformance"
    target = cache / f"zca-js-{version}"
    dist = target / "node_modules" / "zca-js" / "dist"
    if not (dist / "utils.js").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install zca-js for the comparison")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE_JSON, target / "package.json")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=target,
            check=True,
        )
    return dist


def bench_node(frames_: list[bytes], key: bytes) -> tuple[float, float]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is needed for the zca-js comparison")
    dist = zcajs_dist()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(base64.b64encode(f).decode() for f in frames_))
        path = fh.name
    try:
        out = subprocess.run(
            [
                node,
                str(NODE_SCRIPT),
                str(dist),
                path,
                base64.b64encode(key).decode(),
                str(REPEATS),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(path)
    result = json.loads(out.stdout)
    return float(result["frames_per_s"]), float(result["frames_per_cpu_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        # One core for both decoders (Node inherits the affinity of this process).
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load = round(os.getloadavg()[0], 2)
    key = os.urandom(32)
    built = make_frames(args.frames, key)
    py_rate, py_cpu = bench_python(built, key)
    py_events_rate, _ = bench_python(built, key, with_events=True)
    node_rate, node_cpu = bench_node(built, key)
    result = {
        "frames": args.frames,
        "load_avg_1m": load,
        "py_frames_per_s": round(py_rate),
        "node_frames_per_s": round(node_rate),
        "ratio": round(py_rate / node_rate, 3),
        "py_decoder": "zalogate.personal.frames.EventCipher.decode_frame",
        "py_with_events_frames_per_s": round(py_events_rate),
        # per CPU-second: what one core would do; less sensitive to a busy machine
        "py_frames_per_cpu_s": round(py_cpu),
        "node_frames_per_cpu_s": round(node_cpu),
        "cpu_ratio": round(py_cpu / node_cpu, 3),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
