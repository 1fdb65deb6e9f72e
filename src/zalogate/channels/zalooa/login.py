"""``channels login --channel zalooa``: the consent link, then the callback or a pasted URL.

The link's ``state`` and PKCE verifier are written to ``consent.json`` (0600) so that the
gateway's callback route accepts a consent started here. The login ends when the gateway saved
a new pair, or when the admin pastes the URL Zalo redirected to (then the code is traded here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from zalogate.channels.zalooa.accounts import OAAccount
from zalogate.core.channel import ChannelAccount, LoginUI
from zalogate.oa import CONSENT_TTL, ConsentRequest, TokenPair, ZaloOAError
from zalogate.oa.oauth import consent_from_json, consent_to_json

__all__ = ["OALogin", "load_consent", "save_consent"]

_POLL = 0.2

PasteReader = Callable[[], str]


def save_consent(path: Path, request: ConsentRequest) -> None:
    """Keep a pending consent for the gateway's callback (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(consent_to_json(request), handle)


def load_consent(path: Path) -> ConsentRequest | None:
    """The pending consent saved by ``channels login``, if any."""
    try:
        return consent_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
        save_consent(live.consent_path, request)
        before = live.token_file.load()
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
                    now = live.token_file.load()
                    if now is not None and now != before:
                        break  # the gateway's callback saved a new pair
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise ValueError("no consent within 10 minutes; run the login again") from None
        finally:
            with contextlib.suppress(OSError):
                live.consent_path.unlink()
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
        live = self._live(account)
        removed = False
        for path in (live.token_file.path, live.token_file.reauth_path, live.consent_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed
