"""One logged-in Zalo client per account, shared by the monitor, sends and lookups.

:class:`AccountConnection` logs in lazily from the saved credentials of the account's profile
(one login at a time), remembers the account's own uid and name, writes refreshed cookies
back, and is invalidated after a failure so that the next use logs in afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2

from zalogate.channels.zalouser.accounts import ZalouserAccount
from zalogate.channels.zalouser.credentials import CredentialFileError, CredentialStore
from zalogate.channels.zalouser.errors import NeedsLoginError
from zalogate.personal import ZaloPersonal
from zalogate.personal.api import PersonalApi
from zalogate.personal.errors import LoginError, SessionExpiredError, ZaloPersonalError
from zalogate.personal.session import Session

__all__ = ["AccountConnection"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class AccountConnection:
    """The Zalo client of one account.

    Args:
        account: The account (profile, hosts, client version).
        store: Where the profile's credentials live.
        timeout_s: Per-request HTTP deadline.
        transport: An ``httpx2`` transport (tests).
    """

    def __init__(
        self,
        account: ZalouserAccount,
        store: CredentialStore,
        *,
        timeout_s: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.store = store
        self._timeout_s = timeout_s
        self._transport = transport
        self._client: ZaloPersonal | None = None
        self._lock = asyncio.Lock()
        self.own_name: str | None = None

    def __repr__(self) -> str:
        state = "logged in" if self._client is not None else "idle"
        return f"AccountConnection({self.account.account_id!r}, {state})"

    @property
    def logged_in(self) -> bool:
        """True while a logged-in client is held."""
        return self._client is not None

    @property
    def own_uid(self) -> str | None:
        """The account's own user id, once logged in."""
        client = self._client
        return client.session.uid if client is not None else None

    def has_credentials(self) -> bool:
        """True when the profile has a saved session file."""
        return self.store.exists(self.account.profile)

    def _new_client(self) -> ZaloPersonal:
        return ZaloPersonal(
            endpoints=self.account.endpoints,
            client_version=self.account.client_version,
            timeout_s=self._timeout_s,
            transport=self._transport,
            proxy=self.account.proxy,
        )

    async def client(self, *, touch: bool = False) -> ZaloPersonal:
        """The logged-in client, logging in from the saved credentials first if needed.

        Args:
            touch: Record this login as a use of the credentials (``lastUsedAt``) even when
                the cookies did not change (the monitor does; lookups do not).

        Raises:
            NeedsLoginError: No saved session, an unusable file, or Zalo refused the cookies.
            ZaloPersonalError: The login failed for another reason (network, protocol).
        """
        current = self._client
        if current is not None:
            return current
        async with self._lock:
            if self._client is not None:
                return self._client
            acct = self.account
            try:
                stored = self.store.load(acct.profile)
            except CredentialFileError as exc:
                raise NeedsLoginError(acct.account_id, acct.profile, str(exc)) from None
            if stored is None:
                raise NeedsLoginError(acct.account_id, acct.profile)
            client = self._new_client()
            try:
                await client.login_cookie(stored.credentials)
            except SessionExpiredError:
                await client.aclose()
                raise NeedsLoginError(
                    acct.account_id, acct.profile, "Zalo no longer accepts the saved session"
                ) from None
            except LoginError as exc:
                await client.aclose()
                raise NeedsLoginError(acct.account_id, acct.profile, str(exc)) from None
            except BaseException:
                await client.aclose()
                raise
            self._client = client
            self.own_name = stored.display_name
            self._persist(client, touch=touch)
            log.info(
                "[%s] zalouser logged in from saved session (profile %s, uid %s)",
                acct.account_id,
                acct.profile,
                client.session.uid,
            )
            return client

    async def api(self) -> PersonalApi:
        """The session endpoints of the logged-in client."""
        return (await self.client()).api

    async def session(self) -> Session:
        """The current session."""
        return (await self.client()).session

    def persist(self, *, touch: bool = False) -> bool:
        """Write refreshed cookies back to the profile's file; True when written."""
        client = self._client
        if client is None:
            return False
        return self._persist(client, touch=touch)

    def _persist(self, client: ZaloPersonal, *, touch: bool) -> bool:
        try:
            return self.store.refresh(
                self.account.profile,
                client.credentials(),
                touch=touch,
                uid=client.session.uid,
                display_name=self.own_name,
            )
        except (OSError, ZaloPersonalError) as exc:
            log.warning(
                "[%s] could not save the refreshed Zalo session: %s",
                self.account.account_id,
                type(exc).__name__,
            )
            return False

    async def call(self, action: Callable[[PersonalApi], Awaitable[_T]]) -> _T:
        """Run ``action`` with the API; a rejected session invalidates the client.

        Raises:
            NeedsLoginError: Zalo rejected the session (code 600) or there is none.
        """
        client = self._client  # logged in: no coroutine round trip through api()/client()
        api = client.api if client is not None else await self.api()
        try:
            return await action(api)
        except SessionExpiredError:
            await self.invalidate()
            raise NeedsLoginError(
                self.account.account_id, self.account.profile, "Zalo rejected the session"
            ) from None

    async def learn_own_name(self, timeout: float) -> None:  # noqa: ASYNC109
        """Ask Zalo for the account's own name and save it with the session (best effort)."""
        try:
            async with asyncio.timeout(timeout):
                profile = await self.call(lambda api: api.own_profile())
        except (TimeoutError, ZaloPersonalError) as exc:
            log.debug("own profile lookup failed: %s", type(exc).__name__)
            return
        if profile.display_name and profile.display_name != self.own_name:
            self.own_name = profile.display_name
            self.persist()

    async def invalidate(self) -> None:
        """Drop the client (its cookies are saved first); the next use logs in again."""
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._persist(client, touch=False)
            await client.aclose()

    async def forget(self) -> None:
        """Drop the client without saving anything (logout)."""
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        """Save refreshed cookies and close the client."""
        await self.invalidate()
