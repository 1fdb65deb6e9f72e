"""What ``zalogate cluster import-state`` moved into the cluster, one key per record.

Key ``m.<source>.<kind>.<record>`` (both hashed) in the ``<prefix>_imports`` bucket, created
after the record was moved or found there. A later run skips what it finds here, so an allow
entry removed in the cluster after the move is not put back by a second run. Wiping the
cluster wipes the log with it (a fresh cluster gets everything again).
"""

from __future__ import annotations

import contextlib
import hashlib

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

__all__ = ["KvMoveLog"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class KvMoveLog:
    """:class:`~zalogate.core.state_transfer.MoveLog` on a KV bucket.

    Args:
        kv: The ``<prefix>_imports`` bucket.
        source: Names the state moved (its state dir): another source is logged apart.
    """

    def __init__(self, kv: KeyValue, source: str) -> None:
        self._kv = kv
        self._source = _digest(source)

    def _key(self, kind: str, record: str) -> str:
        return f"m.{self._source}.{kind}.{_digest(record)}"

    async def moved_before(self, kind: str, record: str) -> bool:
        try:
            await self._kv.get(self._key(kind, record))
        except KeyNotFoundError:
            return False
        return True

    async def note_moved(self, kind: str, record: str) -> None:
        # noted by a concurrent run (a lagging replica may answer nats-py's read-back of the
        # lost create with "not found")
        with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
            await self._kv.create(self._key(kind, record), b"1")
