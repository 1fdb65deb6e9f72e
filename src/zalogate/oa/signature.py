"""The webhook signature: ``X-ZEvent-Signature: mac=<hex>``.

``mac = sha256_hex(first + raw_body + timestamp + oa_secret_key)``: plain SHA-256, not HMAC,
over the exact bytes received; ``timestamp`` is the body's top-level ``timestamp`` string.
Which id comes first is not settled (reference §10.1): the app id (most sources) or the OA
id (one). Both are accepted and the caller is told which matched.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

__all__ = ["Variant", "sign", "verify"]

Variant = Literal["app_id", "oa_id"]


def sign(first: str, raw_body: bytes, timestamp: str, secret: str) -> str:
    """The hex MAC of a delivery (no ``mac=`` prefix)."""
    digest = hashlib.sha256()
    digest.update(first.encode())
    digest.update(raw_body)
    digest.update(timestamp.encode())
    digest.update(secret.encode())
    return digest.hexdigest()


def verify(
    header: str | None,
    raw_body: bytes,
    timestamp: str,
    *,
    app_id: str,
    oa_ids: tuple[str, ...],
    secret: str,
) -> Variant | None:
    """Which variant ``header`` matches (constant-time compares), or ``None``."""
    if not header:
        return None
    given = header.strip()
    if given[:4].lower() == "mac=":
        given = given[4:].strip()
    given = given.lower()
    found: Variant | None = None
    if hmac.compare_digest(given, sign(app_id, raw_body, timestamp, secret)):
        found = "app_id"
    for oa_id in oa_ids:
        if hmac.compare_digest(given, sign(oa_id, raw_body, timestamp, secret)) and not found:
            found = "oa_id"
    return found
