"""SIGKILL in the middle of processing: after a restart every message is answered exactly once."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("crash_worker.py")
MESSAGES = 1000
CONVERSATIONS = 40


def answered(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM crash_answers").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_killed_worker_resumes_and_answers_every_message_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "zalogate.db"
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path), "admit", str(MESSAGES), str(CONVERSATIONS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "admitted"
        deadline = time.monotonic() + 60
        while answered(db) < 50:
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    before = answered(db)
    assert 0 < before < MESSAGES, "the kill should land while messages are being processed"

    resumed = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path), "resume"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert resumed.stdout.startswith("resumed ")
    assert int(resumed.stdout.split()[1]) == MESSAGES - before

    with contextlib.closing(sqlite3.connect(db)) as conn:
        counts = dict(
            conn.execute("SELECT message_id, COUNT(*) FROM crash_answers GROUP BY message_id")
        )
        order = conn.execute("SELECT chat_id, n FROM crash_answers ORDER BY id").fetchall()
        pending = conn.execute(
            "SELECT COUNT(*) FROM inbox_entries WHERE state != 'done'"
        ).fetchone()[0]
    assert set(counts) == {f"m{n}" for n in range(MESSAGES)}, "a message was lost"
    assert set(counts.values()) == {1}, "a message was answered twice"
    assert pending == 0
    per_chat: dict[str, list[int]] = defaultdict(list)
    for chat, n in order:
        per_chat[chat].append(n)
    for numbers in per_chat.values():
        assert numbers == sorted(numbers), "a conversation was answered out of order"
