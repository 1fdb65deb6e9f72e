"""OAuth grants every node shares (cluster mode): one encrypted document per grant in KV.

Zalo OA refresh tokens are single-use: two nodes refreshing with the same one would burn the
grant. So the pair lives in the ``<prefix>_grants`` bucket, key ``grant.<channel>.<account>``,
and a refresh runs under a *claim* written into the same document with compare-and-set on
its revision (:meth:`KvTokenStore.exclusive`): the node that loses the race waits for the
claim to go, then reads the winner's pair instead of refreshing. A claim left by a node that
died expires after :data:`CLAIM_SECONDS`, longer than a refresh call may take.

The value is sealed (:mod:`zalogate.cluster.sealing`: AES-256-GCM, key from HKDF-SHA256) with
the app's secret key, which every node has in its config: a reader of the bucket (anyone with
NATS access) sees no token, and a value copied to another key does not open. An unreadable
value (the app secret changed) counts as no grant and is replaced by the next write.

A pending consent (``channels login``: the link's state and PKCE verifier) is kept in the same
sealed document, so the OAuth callback completes on whichever node the load balancer picks.

Each read also settles with the node's own token file, the newer pair winning: the first
node seeds the bucket from its file (or a login), a node that joins with an older file takes
the bucket's (and writes it to its file), a ``channels login`` run on a node's machine goes up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from zalogate.cluster.layout import kv_key
from zalogate.cluster.sealing import Seal
from zalogate.oa.oauth import ConsentRequest, TokenPair, consent_from_json, consent_to_json
from zalogate.oa.tokens import StoredGrant, TokenFile, TokenStore, newer

__all__ = ["CLAIM_SECONDS", "KvTokenStore", "KvTokenStores"]

log = logging.getLogger("zalogate.cluster")

CLAIM_SECONDS = 120.0
"""How long a refresh claim holds (a refresh call times out after 30 s)."""
_POLL = 0.05
_TRIES = 100
_Document = dict[str, Any]


def _cipher(secret: str, key: str) -> Seal:
    return Seal(secret, key, salt=b"zalogate grants")


class KvTokenStores:
    """:class:`~zalogate.oa.tokens.TokenStores` on the cluster's grants bucket."""

    def __init__(self, bucket: KeyValue, *, clock: Callable[[], float] = time.time) -> None:
        self.bucket = bucket
        self._clock = clock

    def shared(self, name: tuple[str, ...], *, secret: str, local: TokenFile) -> TokenStore:
        key = kv_key("grant", *name)
        return KvTokenStore(self.bucket, key, _cipher(secret, key), local, clock=self._clock)


class KvTokenStore:
    """One grant in the bucket (see the module docstring)."""

    def __init__(
        self,
        kv: KeyValue,
        key: str,
        cipher: Seal,
        local: TokenFile,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self.key = key
        self._cipher = cipher
        self._local = local
        self._clock = clock
        self._last = local.known()
        self._claimed: str | None = None
        """The id of this store's claim while it holds one."""
        self._unreachable = False

    def known(self) -> StoredGrant:
        # A consent saved on this machine (``channels login``) counts at once, so an account
        # waiting for re-authorisation sees it; the next read takes it up to the bucket.
        local = self._local.known()
        if local.reauth is None and newer(local.pair, self._last.pair):
            return StoredGrant(local.pair, None)
        return self._last

    async def read(self) -> StoredGrant:
        if self._claimed:
            return await self._settle()
        try:
            grant = await self._settle()
        except (NatsError, OSError) as exc:
            # Sends go on with the pair in hand (an access token lives 25 h); a refresh still
            # needs the claim, so nothing is refreshed without the cluster.
            if not self._unreachable:
                log.warning("%s: shared grant not readable (%s)", self.key, type(exc).__name__)
            self._unreachable = True
            return self._last
        self._unreachable = False
        return grant

    async def _settle(self) -> StoredGrant:
        for _ in range(_TRIES):
            doc, revision = await self._get()
            grant = _grant(doc)
            local = self._local.known()
            if local.reauth is None and newer(local.pair, grant.pair) and local.pair:
                # The first node seeds the bucket; a login on this machine goes up.
                seeded = _with(doc, pair=local.pair.to_json(), reauth=None)
                if not await self._put(seeded, revision):
                    continue
                grant = StoredGrant(local.pair, None)
            elif grant.pair is not None and newer(grant.pair, local.pair):
                self._mirror(grant.pair)
            self._last = grant
            return grant
        raise ConnectionError(f"KV key {self.key}: too many concurrent writers, try again")

    async def write(self, pair: TokenPair) -> None:
        await self._change(
            lambda doc: _with(doc, pair=pair.to_json(), reauth=None, claim=self._others(doc))
        )
        self._last = StoredGrant(pair, None)
        self._mirror(pair)

    async def write_reauth(self, reason: str) -> None:
        await self._change(lambda doc: _with(doc, reauth=reason, claim=self._others(doc)))
        self._last = StoredGrant(self._last.pair, reason)
        with contextlib.suppress(OSError):
            self._local.mark_reauth(reason)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        me = secrets.token_hex(8)
        while True:
            doc, revision = await self._get()
            claim = (doc or {}).get("claim")
            if isinstance(claim, dict) and float(claim.get("until", 0)) > self._clock():
                await asyncio.sleep(_POLL)  # another node refreshes: wait, then read its pair
                continue
            until = self._clock() + CLAIM_SECONDS
            if await self._put(_with(doc, claim={"by": me, "until": until}), revision):
                break
        self._claimed = me
        try:
            yield
        finally:
            self._claimed = None
            await self._release(me)

    async def hold_consent(self, request: ConsentRequest | None) -> None:
        # In the sealed document: the callback may land on any node, and the PKCE verifier
        # is as secret as the tokens.
        held = None if request is None else consent_to_json(request)
        await self._change(lambda doc: _with(doc, consent=held))

    async def held_consent(self) -> ConsentRequest | None:
        doc, _ = await self._get()
        held = (doc or {}).get("consent")
        if not isinstance(held, dict):
            return None
        try:
            return consent_from_json(held)
        except (KeyError, ValueError, TypeError):
            return None

    def _others(self, doc: _Document | None) -> Any:
        """The document's claim unless it is this store's (a write ends its own claim)."""
        claim = (doc or {}).get("claim")
        mine = isinstance(claim, dict) and claim.get("by") == self._claimed
        return None if mine else claim

    async def _release(self, me: str) -> None:
        def drop(doc: _Document | None) -> _Document | None:
            claim = (doc or {}).get("claim")
            mine = isinstance(claim, dict) and claim.get("by") == me
            return _with(doc, claim=None) if mine else None

        try:
            await self._change(drop)
        except Exception as exc:  # the claim expires by itself
            log.warning("%s: refresh claim not released (%s)", self.key, type(exc).__name__)

    async def _change(self, compute: Callable[[_Document | None], _Document | None]) -> None:
        for _ in range(_TRIES):
            doc, revision = await self._get()
            new = compute(doc)
            if new is None or await self._put(new, revision):
                return
        raise ConnectionError(f"KV key {self.key}: too many concurrent writers, try again")

    async def _get(self) -> tuple[_Document | None, int]:
        try:
            entry = await self._kv.get(self.key)
        except KeyNotFoundError:
            return None, 0
        return self._open(entry.value or b""), int(entry.revision or 0)

    async def _put(self, doc: _Document, revision: int) -> bool:
        data = self._seal(doc)
        try:
            if revision:
                await self._kv.update(self.key, data, last=revision)
            else:
                await self._kv.create(self.key, data)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            return False  # another node wrote first
        return True

    def _seal(self, doc: _Document) -> bytes:
        return self._cipher.seal(json.dumps(doc, sort_keys=True).encode())

    def _open(self, value: bytes) -> _Document | None:
        plain = self._cipher.open(value)
        try:
            doc = json.loads(plain) if plain is not None else None
        except ValueError:
            doc = None
        if plain is None or doc is None:
            log.warning("%s: the shared grant does not open with this app secret", self.key)
        return doc if isinstance(doc, dict) else None

    def _mirror(self, pair: TokenPair) -> None:
        try:
            self._local.save(pair)  # also hides the tokens from the logs
        except OSError as exc:
            log.warning("%s: the node's token file not updated (%s)", self.key, type(exc).__name__)
            self._local.on_pair(pair)


def _with(doc: _Document | None, **changes: Any) -> _Document:
    base: _Document = {"pair": None, "reauth": None, "claim": None}
    return {**base, **(doc or {}), **changes}


def _grant(doc: _Document | None) -> StoredGrant:
    if doc is None:
        return StoredGrant()
    pair = None
    if isinstance(doc.get("pair"), dict):
        with contextlib.suppress(KeyError, ValueError, TypeError):
            pair = TokenPair.from_json(doc["pair"])
    reauth = doc.get("reauth")
    return StoredGrant(pair, reauth if isinstance(reauth, str) else None)
