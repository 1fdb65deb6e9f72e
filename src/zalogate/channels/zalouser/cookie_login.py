"""``channels login --channel zalouser --cookies FILE``: import a browser session on a server.

A server has no screen to show a QR code on; zca-js users log in with the session of a
browser where Zalo Web is open instead: the cookie export plus the browser's ``imei``
(``localStorage.z_uuid``) and user agent. The file may be

* zca-js's credentials (``{"cookie": [...], "imei": "...", "userAgent": "..."}``) or the
  ones zalogate and OpenClaw save (``cookies``/``user_agent``);
* a cookie export (a list of cookies, EditThisCookie style, or J2TEAM's
  ``{"url": ..., "cookies": [...]}``) with ``imei`` and ``userAgent`` added next to it.

The session is probed (a cookie login and the own profile, through the account's proxy)
before it is saved (0600); a session Zalo refuses is never saved. Nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx2

from zalogate.channels.zalouser.accounts import ZalouserAccount
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.errors import ZalouserChannelError
from zalogate.personal import ZaloPersonal
from zalogate.personal.errors import LoginError, SessionExpiredError, ZaloPersonalError
from zalogate.personal.session import Credentials

__all__ = ["CookieImportError", "cookie_login", "read_browser_session"]

_MAX_FILE = 1024 * 1024
_SHAPE_HINT = (
    'write {"cookie": [<the cookie export>], "imei": "<localStorage z_uuid>",'
    ' "userAgent": "<the browser\'s user agent>"}'
)


class CookieImportError(ZalouserChannelError):
    """The file is not a usable browser session, or Zalo refused it."""


def read_browser_session(path: Path) -> Credentials:
    """The credentials in a browser-session file (see the module docstring).

    Raises:
        CookieImportError: Unreadable, not JSON, or missing the cookies, imei or user agent.
    """
    try:
        if path.stat().st_size > _MAX_FILE:
            raise CookieImportError(f"{path}: too large for a cookie export (over 1 MiB)")
        data: Any = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CookieImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise CookieImportError(f"{path}: not JSON; {_SHAPE_HINT}") from None
    if isinstance(data, list):
        data = {"cookie": data}
    if not isinstance(data, Mapping):
        raise CookieImportError(f"{path}: not a browser session; {_SHAPE_HINT}")
    data = dict(data)
    if "cookie" not in data and "cookies" not in data:
        raise CookieImportError(f"{path}: no cookies; {_SHAPE_HINT}")
    for key, name in (("imei", "imei"), ("user_agent", "userAgent")):
        if not data.get(key) and not data.get(name):
            raise CookieImportError(f"{path}: no {name}; {_SHAPE_HINT}")
    try:
        credentials = Credentials.from_json(data)
    except ValueError as exc:
        raise CookieImportError(f"{path}: {exc}; {_SHAPE_HINT}") from None
    if not any(str(c.get("key", c.get("name", ""))) == "zpw_sek" for c in credentials.cookies):
        raise CookieImportError(
            f"{path}: the cookies hold no zpw_sek (export them from chat.zalo.me while logged"
            " in to Zalo Web)"
        )
    return credentials


async def cookie_login(
    account: ZalouserAccount,
    store: CredentialStore,
    path: Path,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Probe the browser session in ``path`` and save it for the account's profile.

    Returns:
        The success line (who is logged in).

    Raises:
        CookieImportError: A bad file, or Zalo refused the session (nothing saved).
    """
    credentials = read_browser_session(path)
    client = ZaloPersonal(
        credentials,
        endpoints=account.endpoints,
        client_version=account.client_version,
        timeout_s=timeout_s,
        transport=transport,
        proxy=account.proxy,
    )
    try:
        async with asyncio.timeout(timeout_s):
            session = await client.login_cookie(credentials)
            profile = await client.api.own_profile()
        saved = store.save(
            account.profile,
            client.credentials(),
            uid=session.uid,
            display_name=profile.display_name or None,
        )
    except TimeoutError:
        raise CookieImportError(
            f"Zalo did not answer within {timeout_s:g} s; nothing saved"
        ) from None
    except (SessionExpiredError, LoginError) as exc:
        raise CookieImportError(
            f"Zalo refused the session ({type(exc).__name__}): log in to Zalo Web in that"
            " browser again and export fresh cookies; nothing saved"
        ) from None
    except ZaloPersonalError as exc:
        raise CookieImportError(f"the session probe failed: {exc}; nothing saved") from None
    finally:
        await client.aclose()
    who = profile.display_name or session.uid
    return f"Login successful: {who} ({session.uid}); session saved to {saved}."
