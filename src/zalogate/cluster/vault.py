"""Saved logins every node shares (``SharedState.sessions``): the KV bucket ``<prefix>_vault``.

One document per name (``v.<channel>.<profile>``), sealed (:mod:`zalogate.cluster.sealing`)
with ``gateway.cluster.sessionKey``, which every node has in its config: NATS access alone
reveals no cookie. A value that does not open (the key changed) counts as absent.
"""

from __future__ import annotations

import logging

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from zalogate.cluster.layout import kv_key
from zalogate.cluster.sealing import Seal

__all__ = ["KvSessionVault"]

log = logging.getLogger("zalogate.cluster")


class KvSessionVault:
    """:class:`~zalogate.core.shared_state.SessionVault` in a KV bucket (see the module)."""

    def __init__(self, kv: KeyValue, secret: str) -> None:
        self._kv = kv
        self._secret = secret

    def _seal(self, key: str) -> Seal:
        return Seal(self._secret, key, salt=b"zalogate vault")

    async def load(self, name: tuple[str, ...]) -> bytes | None:
        key = kv_key("v", *name)
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        plain = self._seal(key).open(entry.value or b"")
        if plain is None:
            log.warning("%s: the shared session does not open with this sessionKey", key)
        return plain

    async def save(self, name: tuple[str, ...], data: bytes) -> None:
        key = kv_key("v", *name)
        await self._kv.put(key, self._seal(key).seal(data))

    async def forget(self, name: tuple[str, ...]) -> None:
        await self._kv.delete(kv_key("v", *name))
