"""The console's used login links shared by every node (cluster mode): a link's nonce is
taken with a KV ``create`` (compare-and-set on "no such key"), so of all the nodes behind a
load balancer exactly one opens a session with it; every later use, on any node, is refused.

The keys, ``link.<SHA-256 of the nonce>``, live in the sessions bucket, whose max age (the
session lifetime, 12 h) outlasts a link's (5 minutes) by far.
"""

from __future__ import annotations

import hashlib

from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

__all__ = ["KvUsedLinks"]


class KvUsedLinks:
    """:class:`~zalogate.console.auth.UsedLinks` in a KV bucket shared by every node."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def take(self, nonce: str, until: float) -> bool:
        name = "link." + hashlib.sha256(nonce.encode("utf-8")).hexdigest()
        try:
            await self._kv.create(name, b"")
        except KeyWrongLastSequenceError:
            return False
        return True
