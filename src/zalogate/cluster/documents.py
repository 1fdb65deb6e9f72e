"""JSON documents in a JetStream KV bucket, changed with compare-and-set on the revision.

A change reads the document, computes the new one and writes it only if nobody wrote in
between (``create`` for a new key, ``update(last=revision)`` otherwise); on a conflict it
reads again and recomputes. Two nodes changing one document therefore never lose a write,
and a decision taken on the document (a code is pending; fewer than 3 are) holds when the
write lands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

__all__ = ["Bucket", "Document", "change", "read"]

T = TypeVar("T")
Document = dict[str, Any]

_TRIES = 100
"""Conflicts in a row before giving up (each one means another writer made progress)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """A KV bucket with what listing its keys needs."""

    kv: KeyValue
    js: JetStreamContext
    name: str

    async def keys(self, prefix: str) -> list[str]:
        """The keys starting with ``prefix`` (which ends with a dot), deleted ones included.

        Asks the stream leader for the subjects (``STREAM.INFO`` with a subject filter), not
        ``KeyValue.keys()``: nats-py's watcher may report "no more keys" before it handed out
        a key written a moment ago.
        """
        base = f"$KV.{self.name}."
        info = await self.js.stream_info(f"KV_{self.name}", subjects_filter=f"{base}{prefix}>")
        subjects = info.state.subjects or {}
        return sorted(subject[len(base) :] for subject in subjects)


async def read(kv: KeyValue, key: str) -> tuple[Document | None, int]:
    """The document at ``key`` and its revision; ``(None, 0)`` when there is none."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None, 0
    try:
        value = json.loads(entry.value or b"null")
    except ValueError:
        value = None  # unreadable: treated as absent, and replaced by the next change
    return (value if isinstance(value, dict) else None), int(entry.revision or 0)


async def change(
    kv: KeyValue, key: str, compute: Callable[[Document | None], tuple[Document | None, T]]
) -> T:
    """Apply ``compute`` (old document → new document or None for "no write", result) with
    compare-and-set; ``compute`` may run several times and may raise to abort."""
    for _ in range(_TRIES):
        old, revision = await read(kv, key)
        new, result = compute(old)
        if new is None:
            return result
        data = json.dumps(new, ensure_ascii=False, sort_keys=True).encode()
        try:
            if revision:
                await kv.update(key, data, last=revision)
            else:
                await kv.create(key, data)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            # Another writer came first (a lost ``create`` race re-reads the key and may not
            # see it yet): read again and recompute.
            continue
        return result
    raise ConnectionError(f"KV key {key}: too many concurrent writers, try again")
