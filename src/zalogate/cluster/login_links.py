"""The console's login links in a cluster: one signing key for every node, and each link's
nonce taken once in the whole cluster.

* The key (``linkkey`` in the ``<prefix>_console`` bucket, no expiry) is created by the first
  node or ``zalogate console`` that needs it (a KV ``create``: of two at once one wins and the
  other reads it), so a link printed on one machine is valid on every node behind a load
  balancer. Reading it needs the cluster's NATS credentials, which already allow writing the
  console's sessions: it opens nothing those did not.
* A nonce is taken with a KV ``create`` of ``link.<SHA-256 of the nonce>`` in the sessions
  bucket (compare-and-set on "no such key"), so exactly one node opens a session with a link;
  every later use, on any node, is refused. The bucket's max age (the session lifetime, 12 h)
  outlasts a link's (5 minutes) by far.
"""

from __future__ import annotations

import hashlib
import secrets

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

__all__ = ["KvUsedLinks", "link_key"]

_KEY = "linkkey"


class KvUsedLinks:
    """:class:`~zalogate.console.auth.UsedLinks` in a KV bucket shared by every node."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def take(self, nonce: str, until: float) -> bool:
        name = "link." + hashlib.sha256(nonce.encode("utf-8")).hexdigest()
        try:
            # ``update(last=0)`` is a create in one round trip: nats-py's ``create`` reads the
            # key back after losing, and in a race that read can miss the winner's write
            # (KeyNotFoundError instead of "taken").
            await self._kv.update(name, b"", last=0)
        except KeyWrongLastSequenceError:
            return False
        return True


async def link_key(kv: KeyValue) -> str:
    """The cluster's login-link signing key, created on first use."""
    for _ in range(3):
        try:
            entry = await kv.get(_KEY)
        except KeyNotFoundError:
            pass
        else:
            if entry.value:
                return entry.value.decode("ascii")
        try:
            await kv.update(_KEY, secrets.token_urlsafe(32).encode("ascii"), last=0)
        except KeyWrongLastSequenceError:
            continue  # another node created it a moment ago: read that one
    raise ConnectionError("the cluster's console link key could not be read; try again")
