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
from typing import Any, TypeVar

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

__all__ = ["Document", "change", "keys", "read"]

T = TypeVar("T")
Document = dict[str, Any]

_TRIES = 100
"""Conflicts in a row before giving up (each one means another writer made progress)."""


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
        except KeyWrongLastSequenceError:
            continue
        return result
    raise ConnectionError(f"KV key {key}: too many concurrent writers, try again")


async def keys(kv: KeyValue, prefix: str) -> list[str]:
    """The keys of ``kv`` starting with ``prefix``, sorted."""
    try:
        found = await kv.keys()
    except NoKeysError:
        return []
    return sorted(k for k in found if k.startswith(prefix))
