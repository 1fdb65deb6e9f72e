"""Values sealed for one KV key: what the shared grants and the session vault store.

AES-256-GCM under a key derived with HKDF-SHA256 from a secret every node has in its config
(``salt`` keeps the uses apart, the key name is the HKDF info), a fresh 96-bit nonce per
write, the key name as associated data: a reader of the bucket sees no secret, and a value
copied to another key does not open. Layout: version byte ``1``, nonce, ciphertext and tag.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Seal"]

_VERSION = b"1"
_NONCE = 12
_TAG = 16


class Seal:
    """Seals and opens the values of KV key ``key`` with ``secret``."""

    def __init__(self, secret: str, key: str, *, salt: bytes) -> None:
        kdf = HKDF(algorithm=SHA256(), length=32, salt=salt, info=key.encode())
        self._aead = AESGCM(kdf.derive(secret.encode()))
        self._ad = key.encode()

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, self._ad)

    def open(self, value: bytes) -> bytes | None:
        """The plain value; None when it is not one (damaged, or sealed with another secret)."""
        if not value.startswith(_VERSION) or len(value) < 1 + _NONCE + _TAG:
            return None
        try:
            return self._aead.decrypt(value[1 : 1 + _NONCE], value[1 + _NONCE :], self._ad)
        except InvalidTag:
            return None
