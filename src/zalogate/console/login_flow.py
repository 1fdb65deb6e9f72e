"""A channel's interactive login run from the console: the channel's ``login`` capability
with a :class:`~zalogate.core.channel.LoginUI` that streams to the page (server-sent events).

The channel reports progress as lines; the page follows steps (``qr``, ``link``, ``scanned``,
``confirmed``, ``declined``, ``expired``, ``done``, ``failed``), read from the UI calls and the
lines. Nothing here knows a channel: a QR login calls ``show_qr``, a consent login
``show_link``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from zalogate.core.channel import ChannelAccount, Login, LoginUI
from zalogate.runtime.logging import redact
from zalogate.store import write_private_file

__all__ = ["LoginEvent", "LoginFlow", "WebLoginUI"]

log = logging.getLogger(__name__)

_STEP_WORDS = (
    ("scanned", "scanned"),
    ("confirmed", "confirmed"),
    ("declined", "declined"),
    ("expired", "expired"),
)
_DRAWING_CHARS = frozenset("█▀▄")


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One step of the login as the page shows it."""

    step: str
    text: str = ""
    qr: str | None = None
    """The QR code as a ``data:image/png`` URL (only with ``step == "qr"``)."""
    link: str | None = None
    """A page to open in a new tab (only with ``step == "link"``; http or https)."""


def step_of(line: str) -> str:
    """The page step a progress line reports (``info`` when it is none of them)."""
    lowered = line.lower()
    for word, step in _STEP_WORDS:
        if word in lowered:
            return step
    return "info"


class WebLoginUI(LoginUI):
    """A :class:`LoginUI` whose output goes to the console page.

    Args:
        qr_path: Where the QR image is saved (0600), as the terminal login does.
        replace: The answer to "replace the current session?".
    """

    def __init__(self, qr_path: Path, *, replace: bool) -> None:
        self._qr_path = qr_path
        self._replace = replace
        self.events: list[LoginEvent] = []
        self._changed = asyncio.Event()

    def push(self, event: LoginEvent) -> None:
        """Add an event and wake the streams."""
        self.events.append(event)
        self._changed.set()

    def wake(self) -> None:
        """Wake the streams without an event (the login ended)."""
        self._changed.set()

    def info(self, message: str) -> None:
        """A progress line (the terminal QR drawing is left out: the page shows the image)."""
        if "\n" in message or _DRAWING_CHARS & set(message):
            return
        self.push(LoginEvent(step_of(message), redact(message)))

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Answer with what the operator chose when starting the login."""
        self.push(LoginEvent("info", redact(question)))
        return self._replace

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Save the QR image (0600) and send it to the page."""
        path = write_private_file(self._qr_path, png)
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        self.push(LoginEvent("qr", qr=url))
        return path

    def show_link(self, url: str, label: str) -> None:
        """Send the link to the page (unredacted: it is for the operator to open)."""
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"not a web link: {redact(url)[:60]}")
        self.push(LoginEvent("link", redact(label), link=url))

    async def follow(self, done: Callable[[], bool]) -> AsyncIterator[LoginEvent]:
        """Every event, then each new one as it comes, until the login is over."""
        sent = 0
        while True:
            self._changed.clear()
            while sent < len(self.events):
                sent += 1
                yield self.events[sent - 1]
            if done():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await self._changed.wait()
            if not self._changed.is_set():
                yield LoginEvent("ping")


class LoginFlow:
    """One running console login of one account."""

    def __init__(
        self,
        login: Login,
        account: ChannelAccount,
        ui: WebLoginUI,
        after: Callable[[], Awaitable[object]],
    ) -> None:
        self.ui = ui
        self._task = asyncio.create_task(self._run(login, account, after), name="console-login")
        # The streams wait for a change: the end is one (else they linger up to a ping).
        self._task.add_done_callback(lambda _: ui.wake())

    @property
    def done(self) -> bool:
        """The login finished (or failed)."""
        return self._task.done()

    async def _run(
        self, login: Login, account: ChannelAccount, after: Callable[[], Awaitable[object]]
    ) -> None:
        self.ui.push(LoginEvent("starting"))
        try:
            line = await login.login_interactive(account, self.ui)
        except Exception as exc:
            text = str(exc).strip().splitlines()
            self.ui.push(LoginEvent("failed", redact(text[0] if text else type(exc).__name__)))
            return
        self.ui.push(LoginEvent("done", redact(line)))
        try:
            await after()
        except Exception as exc:
            log.warning("console login: restarting the account failed: %s", redact(str(exc)))
            self.ui.push(LoginEvent("info", redact(str(exc))))

    async def cancel(self) -> None:
        """Stop the login if it still runs."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
