"""Tokens that rotate safely: one refresh at a time per OA, the new pair on disk before use.

Zalo's refresh tokens are single-use: two refreshes racing with the same token burn the grant
(the second is refused, and nothing documents a grace period). So, per OA:

* in one process, an ``asyncio.Lock`` makes concurrent callers share one refresh;
* across processes sharing the state directory, an ``fcntl.flock`` on ``<key>.lock`` does the
  same, and the lock holder re-reads ``<key>.json`` first: a pair another process saved is
  adopted instead of refreshed again;
* the new pair is written (temp file, mode 0600, fsync, rename, fsync of the directory) before
  any caller gets the new access token; if the write fails, the pair is still used from memory
  (the old refresh token is already burned) and ``on_alert`` is told;
* a refused refresh writes ``<key>.reauth`` (the stored pair is left untouched) and every later
  call fails fast with ``ReauthorizationRequiredError`` until a new consent saves a pair.

Where the pair lives is a :class:`TokenStore`: :class:`TokenFile` (the files above) by default;
a cluster of gateways shares one pair through a store whose ``exclusive`` is a compare-and-set
claim (``zalogate.cluster.tokens``), so the cluster refreshes once and every node sends with
the current access token.

The one window no lock closes: a kill after Zalo answered a refresh and before the local
write finished loses the new pair, and the old refresh token is burned. It is as short as one
local fsync'd write.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zalogate.oa.errors import ApiError, RateLimitedError, ReauthorizationRequiredError, ServerError
from zalogate.oa.oauth import (
    ConsentRequest,
    OAuthClient,
    TokenPair,
    consent_from_json,
    consent_to_json,
)

__all__ = [
    "DEFAULT_MARGIN",
    "StoredGrant",
    "TokenFile",
    "TokenKeeper",
    "TokenStore",
    "TokenStores",
    "newer",
]

DEFAULT_MARGIN = 4 * 3600.0
"""Refresh this long before the access token (25 h) expires."""
_LOCK_POLL = 0.02


@dataclass(frozen=True, slots=True)
class StoredGrant:
    """What a store holds for one OA: its pair, and why it must be authorised again."""

    pair: TokenPair | None = None
    reauth: str | None = None


def newer(candidate: TokenPair | None, than: TokenPair | None) -> bool:
    """Whether ``candidate`` was issued after ``than`` (every pair lives equally long, so the
    later expiry is the later issue)."""
    return candidate is not None and (than is None or candidate.expires_at > than.expires_at)


class TokenStore(Protocol):
    """Where an OA's grant lives, and how its users refresh it one at a time."""

    def known(self) -> StoredGrant:
        """What this process can tell without waiting on anyone (local files, the last read)."""
        ...

    async def read(self) -> StoredGrant:
        """The current grant."""
        ...

    async def write(self, pair: TokenPair) -> None:
        """Replace the pair durably (and clear a re-auth mark) before anyone uses it."""
        ...

    async def write_reauth(self, reason: str) -> None:
        """Record that the refresh token was refused (the pair stays as it was)."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Held while refreshing: no other user of the same grant refreshes meanwhile."""
        ...

    async def hold_consent(self, request: ConsentRequest | None) -> None:
        """Keep a pending consent (its state and PKCE verifier, secrets) for the OAuth
        callback, wherever it lands; None forgets it."""
        ...

    async def held_consent(self) -> ConsentRequest | None:
        """The pending consent kept by :meth:`hold_consent`, if any."""
        ...


class TokenStores(Protocol):
    """Grants every gateway node shares (cluster mode), in place of a node's own files."""

    def shared(self, name: tuple[str, ...], *, secret: str, local: TokenFile) -> TokenStore:
        """The store of grant ``name`` (channel, account), protected with a key derived
        from ``secret`` (an app secret every node has), seeded from and mirrored to
        ``local``."""
        ...


class TokenFile:
    """The stored grant of one OA: ``<key>.json``, ``.reauth`` and ``.lock`` in ``dir``.

    ``on_pair`` sees every pair loaded or saved (the channel hides its tokens from the logs).
    """

    def __init__(
        self, directory: Path, key: str, *, on_pair: Callable[[TokenPair], None] | None = None
    ) -> None:
        if not key or any(c in key for c in "/\\\0") or key.startswith("."):
            raise ValueError(f"unusable token file key {key!r}")
        self.dir = directory
        self.key = key
        self.path = directory / f"{key}.json"
        self.reauth_path = directory / f"{key}.reauth"
        self.lock_path = directory / f"{key}.lock"
        self.consent_path = directory / "consent.json"
        """A pending consent (``channels login``), mode 0600."""
        self.on_pair = on_pair or (lambda _pair: None)
        """Sees every pair loaded or saved."""
        self._seen: tuple[int, int, int] | None = None
        self._seen_pair: TokenPair | None = None

    def load(self) -> TokenPair | None:
        """The stored pair, or ``None`` when there is none (or it is unreadable)."""
        try:
            pair = TokenPair.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.on_pair(pair)
        return pair

    def save(self, pair: TokenPair) -> None:
        """Replace the stored pair atomically and durably (0600), and clear a re-auth mark."""
        self.on_pair(pair)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.dir / f".{self.key}.{os.getpid()}.tmp"
        data = json.dumps(pair.to_json()).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._sync_dir()
        with contextlib.suppress(FileNotFoundError):
            self.reauth_path.unlink()

    def reauth_reason(self) -> str | None:
        """Why the OA must be authorised again, if it must."""
        try:
            return self.reauth_path.read_text(encoding="utf-8").strip() or "refresh refused"
        except OSError:
            return None

    def mark_reauth(self, reason: str) -> None:
        """Record that the refresh token was refused (the stored pair stays as it was)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.reauth_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, reason.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- TokenStore -------------------------------------------------------------------------

    def known(self) -> StoredGrant:
        # Read before every API call: parse the file again only when it was replaced.
        try:
            stat = os.stat(self.path)
        except OSError:
            return StoredGrant(None, self.reauth_reason())
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp != self._seen:
            self._seen, self._seen_pair = stamp, self.load()
        return StoredGrant(self._seen_pair, self.reauth_reason())

    async def read(self) -> StoredGrant:
        return self.known()

    async def write(self, pair: TokenPair) -> None:
        self.save(pair)

    async def write_reauth(self, reason: str) -> None:
        self.mark_reauth(reason)

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return self.locked()

    async def hold_consent(self, request: ConsentRequest | None) -> None:
        if request is None:
            with contextlib.suppress(FileNotFoundError):
                self.consent_path.unlink()
            return
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.consent_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(consent_to_json(request), handle)

    async def held_consent(self) -> ConsentRequest | None:
        try:
            return consent_from_json(json.loads(self.consent_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the exclusive cross-process lock (polled, so a cancelled waiter leaves it)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(_LOCK_POLL)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


class TokenKeeper:
    """The access token of one OA, refreshed ahead of expiry, one refresh at a time.

    Args:
        oauth: the app's OAuth client.
        store: where the pair lives (:class:`TokenFile`, or a cluster's shared store).
        oa_id: named in errors.
        margin: refresh when the access token expires within this many seconds.
        on_alert: told (a one-line text, no secret) when a refreshed pair could not be saved.
    """

    def __init__(
        self,
        oauth: OAuthClient,
        store: TokenStore,
        *,
        oa_id: str,
        margin: float = DEFAULT_MARGIN,
        on_alert: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oauth = oauth
        self._store = store
        self.oa_id = oa_id
        self._margin = margin
        self._alert = on_alert or (lambda _text: None)
        self._clock = clock
        known = store.known()
        self._pair: TokenPair | None = known.pair
        self._reauth: str | None = known.reauth
        self._lock = asyncio.Lock()
        self.refreshes = 0
        """Refresh calls this keeper made to Zalo."""

    @property
    def reauth_reason(self) -> str | None:
        """Why the OA must be authorised again (``None`` while the grant is usable)."""
        self._take(self._store.known())
        return self._reauth

    @property
    def expires_at(self) -> float | None:
        """When the current access token expires (epoch seconds), if there is one."""
        return self._pair.expires_at if self._pair else None

    async def adopt(self, pair: TokenPair) -> None:
        """Save and use a pair from a new consent (clears the re-auth state)."""
        await self._store.write(pair)
        self._pair = pair
        self._reauth = None

    def _take(self, grant: StoredGrant) -> None:
        # Another user of the store (a process sharing the state dir, another node) may have
        # marked the grant refused, or saved a newer pair (a refresh, a new consent, which
        # clears the mark): the store is the truth, but an older pair never replaces ours
        # (ours may be a refresh the store failed to save).
        if grant.reauth is not None:
            self._reauth = grant.reauth
        elif newer(grant.pair, self._pair) or (self._reauth is not None and grant.pair):
            self._pair, self._reauth = grant.pair, None

    async def access_token(self) -> str:
        """A usable access token, refreshed first when it expires within the margin."""
        self._take(await self._store.read())
        if self._reauth is not None:
            raise ReauthorizationRequiredError(self.oa_id, self._reauth)
        pair = self._pair
        if pair is None or pair.expires_within(self._margin, self._clock()):
            pair = await self._refresh(None if pair is None else pair.access_token)
        return pair.access_token

    async def force_refresh(self, stale: str) -> str:
        """A new access token after Zalo refused ``stale`` (shared if someone already did it)."""
        self._take(self._store.known())
        if self._reauth is not None:
            raise ReauthorizationRequiredError(self.oa_id, self._reauth)
        return (await self._refresh(stale, forced=True)).access_token

    def _fresh(self, pair: TokenPair | None, stale: str | None, forced: bool) -> bool:
        if pair is None:
            return False
        if forced:
            return pair.access_token != stale
        return not pair.expires_within(self._margin, self._clock())

    async def _refresh(self, stale: str | None, *, forced: bool = False) -> TokenPair:
        async with self._lock:
            if self._reauth is not None:
                raise ReauthorizationRequiredError(self.oa_id, self._reauth)
            if self._pair is not None and self._fresh(self._pair, stale, forced):
                return self._pair  # another caller of this process refreshed meanwhile
            async with self._store.exclusive():
                stored = await self._store.read()
                if stored.reauth is not None:
                    self._reauth = stored.reauth
                    raise ReauthorizationRequiredError(self.oa_id, stored.reauth)
                if stored.pair is not None and self._fresh(stored.pair, stale, forced):
                    self._pair = stored.pair  # another process or node refreshed meanwhile
                    return stored.pair
                current = stored.pair if newer(stored.pair, self._pair) else self._pair
                if current is None:
                    self._reauth = "no grant stored"
                    raise ReauthorizationRequiredError(self.oa_id, self._reauth)
                return await self._rotate(current)

    async def _rotate(self, current: TokenPair) -> TokenPair:
        self.refreshes += 1
        try:
            new = await self._oauth.refresh(current.refresh_token)
        except (RateLimitedError, ServerError):
            raise
        except ApiError as exc:
            # Any refusal of a refresh token is terminal: retrying would loop, not recover.
            reason = f"refresh refused: error {exc.error} {exc.description}"[:200]
            await self._store.write_reauth(reason)
            self._reauth = reason
            raise ReauthorizationRequiredError(self.oa_id, reason) from None
        try:
            await self._store.write(new)
        except OSError as exc:
            self._alert(
                f"OA {self.oa_id}: the refreshed token pair could not be saved "
                f"({type(exc).__name__}); it is kept in memory only"
            )
        self._pair = new
        return new
