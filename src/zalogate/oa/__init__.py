"""``zalogate.oa``: an async client for Zalo Official Accounts (the OA Open API).

* ``oauth``: ``OAuthClient`` — the consent link (state + PKCE), code exchange and refresh;
* ``tokens``: ``TokenKeeper``/``TokenFile`` — single-use refresh tokens rotated safely;
* ``client``: ``ZaloOA`` — sends, uploads, reactions and look-ups with the ``access_token``
  header;
* ``signature``: the webhook MAC;
* ``errors``: the exception tree (Zalo's codes).

Standalone: it imports only ``zalogate.net``, ``zalogate.text`` and itself.
"""

from __future__ import annotations

from zalogate.oa.client import DEFAULT_API_URL, TEXT_LIMIT, UPLOAD_LIMITS, TokenSource, ZaloOA
from zalogate.oa.errors import *  # noqa: F403 - the tree is the package's public surface
from zalogate.oa.errors import __all__ as _errors
from zalogate.oa.oauth import (
    CONSENT_TTL,
    DEFAULT_OAUTH_URL,
    ConsentRequest,
    OAuthClient,
    TokenPair,
    pkce_challenge,
    pkce_verifier,
)
from zalogate.oa.tokens import (
    DEFAULT_MARGIN,
    StoredGrant,
    TokenFile,
    TokenKeeper,
    TokenStore,
    TokenStores,
)

__all__ = [
    "CONSENT_TTL",
    "DEFAULT_API_URL",
    "DEFAULT_MARGIN",
    "DEFAULT_OAUTH_URL",
    "TEXT_LIMIT",
    "UPLOAD_LIMITS",
    "ConsentRequest",
    "StoredGrant",
    "OAuthClient",
    "TokenFile",
    "TokenKeeper",
    "TokenPair",
    "TokenSource",
    "TokenStore",
    "TokenStores",
    "ZaloOA",
    "pkce_challenge",
    "pkce_verifier",
    *_errors,
]
