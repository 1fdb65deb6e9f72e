"""``channels login --channel zalooa``: the consent link, then the callback or a pasted URL.

The link's ``state`` and PKCE verifier are kept in the grant's store (``consent.json``, 0600; in
a cluster the sealed grant document) so that the gateway's callback route accepts a consent
started here, on whichever node it lands. The login ends when the store holds a new pair (the
callback saved it), or when the admin pastes the URL Zalo redirected to (then the code is
traded here).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import urllib.parse
from collections.abc import Callable

from zalogate.channels.zalooa.accounts import OAAccount
from zalogate.core.channel import ChannelAccount, LoginUI
from zalogate.oa import CONSENT_TTL, TokenPair, ZaloOAError

__all__ = ["OALogin"]

_POLL = 0.2

PasteReader = Callable[[], str]


def _settle(future: asyncio.Future[str], line: str) -> None:
    if not future.done():
        future.set_result(line)


def _stdin_line() -> str:
    return sys.stdin.readline() if sys.stdin.isatty() else ""


class OALogin:
    """The ``Login`` capability of ``zalooa``."""

    def __init__(
        self, live: Callable[[ChannelAccount], OAAccount], *, paste: PasteReader | None = None
    ) -> None:
        self._live = live
        self._paste = paste or _stdin_line

    async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
        live = self._live(account)
        redirect = live.settings.redirect_uri
        if not redirect:
            raise ValueError(
                "set channels.zalooa redirectUri to the Callback URL saved in the Zalo console "
                f"(the gateway serves it at /zalooa/{account.account_id}/oauth)"
            )
        request = live.oauth.consent(redirect)
        await live.store.hold_consent(request)
        before = (await live.store.read()).pair
        ui.show_link(request.url, "Open this link as the OA admin and allow access:")
        ui.info(
            "Waiting for Zalo's callback on the gateway; or paste here the URL your browser "
            "was sent to."
        )
        pasted = self._pasted_line()
        try:
            async with asyncio.timeout(CONSENT_TTL):
                while True:
                    if pasted.done():
                        pair = await self._exchange(live, pasted.result())
                        if pair is not None:
                            await live.keeper.adopt(pair)
                            break
                        pasted = self._pasted_line()
                    now = (await live.store.read()).pair
                    if now is not None and now != before:
                        break  # the gateway's callback saved a new pair
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise ValueError("no consent within 10 minutes; run the login again") from None
        finally:
            with contextlib.suppress(Exception):  # an unused consent expires by itself
                await live.store.hold_consent(None)
        return f"Zalo OA {live.oa_id or account.account_id} authorised; tokens saved."

    def _pasted_line(self) -> asyncio.Future[str]:
        # A daemon thread: a blocked read must not keep the CLI from exiting.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def read() -> None:
            line = self._paste()
            if line.strip():
                loop.call_soon_threadsafe(_settle, future, line)

        threading.Thread(target=read, daemon=True).start()
        return future

    async def _exchange(self, live: OAAccount, pasted: str) -> TokenPair | None:
        query = urllib.parse.urlsplit(pasted.strip()).query
        params = dict(urllib.parse.parse_qsl(query))
        if not params.get("code") or not params.get("state"):
            return None
        try:
            pair = await live.oauth.exchange(params["code"], params["state"])
        except ZaloOAError as exc:
            raise ValueError(f"Zalo refused the code: {exc}") from None
        if params.get("oa_id"):
            live.remember_oa_id(params["oa_id"])
        return pair

    async def logout(self, account: ChannelAccount) -> bool:
        """Forget the grant: this machine's files, and in a cluster the shared pair is marked
        "re-authorise" for every node (a new ``channels login`` clears the mark).

        Raises:
            ConnectionError: the cluster's grant could not be marked (nothing was removed).
        """
        live = self._live(account)
        removed = False
        held = await live.store.read()  # in a cluster: the pair every node uses
        if held.pair is not None and held.reauth is None:
            await live.store.write_reauth("logged out with `zalogate channels logout`")
            removed = True
        token_file = live.token_file
        for path in (token_file.path, token_file.reauth_path, token_file.consent_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed
