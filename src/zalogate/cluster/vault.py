"""Saved logins every node shares (``SharedState.sessions``): the KV bucket ``<prefix>_vault``.

One document per name (``v.<channel>.<profile>``), AES-256-GCM under a key derived with
HKDF-SHA256 from ``gateway.cluster.sessionKey`` (which every node has in its config), the key
name as associated data: NATS access alone reveals no cookie, and a value copied to another
key does not open. A value that does not open (the key changed) counts as absent.
"""

from __future__ import annotations

import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from zalogate.cluster.layout import kv_key

__all__ = ["KvSessionVault"]

log = logging.getLogger("zalogate.cluster")

_VERSION = b"1"


class KvSessionVault:
    """:class:`~zalogate.core.shared_state.SessionVault` in a KV bucket (see the module)."""

    def __init__(self, kv: KeyValue, secret: str) -> None:
        self._kv = kv
        self._secret = secret.encode()

    def _cipher(self, key: str) -> AESGCM:
        kdf = HKDF(algorithm=SHA256(), length=32, salt=b"zalogate vault", info=key.encode())
        return AESGCM(kdf.derive(self._secret))

    async def load(self, name: tuple[str, ...]) -> bytes | None:
        key = kv_key("v", *name)
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        value = entry.value or b""
        if not value.startswith(_VERSION) or len(value) < 1 + 12 + 16:
            return None
        try:
            return self._cipher(key).decrypt(value[1:13], value[13:], key.encode())
        except InvalidTag:
            log.warning("%s: the shared session does not open with this sessionKey", key)
            return None

    async def save(self, name: tuple[str, ...], data: bytes) -> None:
        key = kv_key("v", *name)
        nonce = os.urandom(12)
        await self._kv.put(
            key, _VERSION + nonce + self._cipher(key).encrypt(nonce, data, key.encode())
        )

    async def forget(self, name: tuple[str, ...]) -> None:
        await self._kv.delete(kv_key("v", *name))
