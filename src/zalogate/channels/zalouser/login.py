"""``channels login --channel zalouser``: the QR login, driven through a ``LoginUI``.

1. A saved session for the account's profile is checked first: when Zalo still accepts it the
   user is asked whether to replace it (the default keeps it).
2. The QR code is shown (drawn in the terminal with half blocks, and saved as a PNG with mode
   0600 whose path is printed, for SSH sessions); the phone scans it ("Zalo Web" login) and
   confirms.
3. An expired code is renewed a few times; then, or when the phone declines, the login fails
   with a clear message. The whole wait is bounded.
4. The credentials go to the profile's file (0600); nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx2

from zalogate.channels.zalouser.accounts import ZalouserAccount
from zalogate.channels.zalouser.credentials import CredentialFileError, CredentialStore
from zalogate.channels.zalouser.errors import ZalouserChannelError
from zalogate.core.channel import LoginUI
from zalogate.personal import ZaloPersonal
from zalogate.personal.errors import (
    LoginError,
    QrDeclinedError,
    QrExpiredError,
    SessionExpiredError,
    ZaloPersonalError,
)
from zalogate.personal.login import LoggedIn, QrDeclined, QrEvent, QrExpired, QrGenerated, QrScanned

__all__ = [
    "LOGIN_DECLINED",
    "LOGIN_EXPIRED",
    "LOGIN_SUCCESS",
    "LoginFailedError",
    "qr_login",
]

log = logging.getLogger(__name__)

LOGIN_SUCCESS = "Login successful."
LOGIN_EXPIRED = "QR login expired. Start again with: zalogate channels login --channel zalouser"
LOGIN_DECLINED = "Zalo login failed: QR login was declined on the phone."


class LoginFailedError(ZalouserChannelError):
    """The QR login did not complete (expired, declined, timed out, refused)."""


"""The old name of :class:`zalogate.core.channel.LoginUI` (``channel.py`` still imports it)."""


async def _existing_name(
    account: ZalouserAccount, store: CredentialStore, transport: Any
) -> str | None:
    """The name of the session Zalo still accepts for the profile, or None."""
    try:
        stored = store.load(account.profile)
    except CredentialFileError:
        return None
    if stored is None:
        return None
    client = ZaloPersonal(
        endpoints=account.endpoints,
        client_version=account.client_version,
        timeout_s=12.0,
        transport=transport,
        proxy=account.proxy,
    )
    try:
        async with asyncio.timeout(15.0):
            session = await client.login_cookie(stored.credentials)
            try:
                profile = await client.api.own_profile()
                return profile.display_name or stored.display_name or session.uid
            except ZaloPersonalError:
                return stored.display_name or session.uid
    except (TimeoutError, SessionExpiredError, LoginError, ZaloPersonalError):
        return None
    finally:
        await client.aclose()


async def qr_login(
    account: ZalouserAccount,
    store: CredentialStore,
    ui: LoginUI,
    *,
    wait_s: float = 180.0,
    qr_timeout_s: float = 100.0,
    max_renewals: int = 2,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> str:
    """Log ``account`` in by QR and save its credentials; return the line to print.

    Raises:
        LoginFailedError: Expired, declined, timed out, or Zalo refused the login (the message
            is meant for the user).
    """
    name = await _existing_name(account, store, transport)
    if name is not None:
        keep = not await ui.confirm(
            f"Zalo is already linked ({name}). Replace this session with a new QR login?",
            default=False,
        )
        if keep:
            return f"Zalo is already linked ({name})."

    async def on_event(event: QrEvent) -> None:
        if isinstance(event, QrGenerated):
            drawing = event.terminal()
            if drawing:
                ui.info(drawing)
            await ui.show_qr(event.png)
            ui.info(
                "Scan the QR code with the Zalo app on your phone (Zalo Web login), "
                "then confirm the login on the phone."
            )
        elif isinstance(event, QrScanned):
            who = f" by {event.display_name}" if event.display_name else ""
            ui.info(f"Scanned{who}. Waiting for the confirmation on the phone...")
        elif isinstance(event, QrExpired):
            if event.renewing:
                ui.info("The QR code expired; here is a new one.")
        elif isinstance(event, QrDeclined):
            ui.info("The login was declined on the phone.")
        elif isinstance(event, LoggedIn):
            ui.info("Confirmed. Finishing the login...")

    client = ZaloPersonal(
        endpoints=account.endpoints,
        client_version=account.client_version,
        transport=transport,
        proxy=account.proxy,
    )
    try:
        async with asyncio.timeout(wait_s):
            session = await client.login_qr(
                on_event, qr_timeout_s=qr_timeout_s, max_renewals=max_renewals
            )
        display = ""
        try:
            display = (await client.api.own_profile()).display_name
        except ZaloPersonalError as exc:
            log.debug("own profile after QR login failed: %s", type(exc).__name__)
        path = store.save(
            account.profile,
            client.credentials(),
            uid=session.uid,
            display_name=display or None,
        )
    except TimeoutError:
        raise LoginFailedError(LOGIN_EXPIRED) from None
    except QrExpiredError:
        raise LoginFailedError(LOGIN_EXPIRED) from None
    except QrDeclinedError:
        raise LoginFailedError(LOGIN_DECLINED) from None
    except ZaloPersonalError as exc:
        raise LoginFailedError(f"Zalo login failed: {exc}") from None
    finally:
        await client.aclose()
    who = f"{display} ({session.uid})" if display else session.uid
    log.info("zalouser account %s logged in as %s; session saved", account.account_id, session.uid)
    return f"{LOGIN_SUCCESS} Logged in as {who}; session saved to {path}."
