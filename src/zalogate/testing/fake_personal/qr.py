"""The phone's side of QR login (scan, confirm, decline, expire)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zalogate.testing.fake_personal.model import (
    FakeAccount,
    QrSession,
)


class QrControl:
    """Plays the phone in QR login: scan, confirm, decline, or let the code expire."""

    def __init__(self) -> None:
        self.sessions: list[QrSession] = []
        self.auto_approve: str | None = None
        self._accounts: Callable[[str], FakeAccount] = lambda uid: FakeAccount(uid, uid)
        self._generated = asyncio.Condition()

    async def wait_generated(self, timeout_s: float = 10.0) -> QrSession:
        """Wait until a client asks for a QR code that nobody acted on yet; return it."""

        def pending() -> QrSession | None:
            return next((s for s in reversed(self.sessions) if s.state == "generated"), None)

        async with asyncio.timeout(timeout_s), self._generated:
            await self._generated.wait_for(lambda: pending() is not None)
        found = pending()
        assert found is not None
        return found

    def _current(self, states: tuple[str, ...]) -> QrSession:
        for sess in reversed(self.sessions):
            if sess.state in states:
                return sess
        raise LookupError(f"no QR code in state {'/'.join(states)}")

    def scan(self, account: FakeAccount | str) -> QrSession:
        """The phone of ``account`` scans the newest QR code."""
        sess = self._current(("generated",))
        sess.account = self._accounts(account) if isinstance(account, str) else account
        sess.move("scanned")
        return sess

    def confirm(self) -> QrSession:
        """The phone confirms the login of the scanned QR code."""
        sess = self._current(("scanned",))
        sess.move("confirmed")
        return sess

    def decline(self) -> QrSession:
        """The phone declines the login (the client sees error_code -13)."""
        sess = self._current(("scanned",))
        sess.move("declined")
        return sess

    def expire(self) -> QrSession:
        """The newest pending QR code expires server-side."""
        sess = self._current(("generated", "scanned"))
        sess.move("expired")
        return sess

    async def _add(self, sess: QrSession) -> None:
        self.sessions.append(sess)
        if self.auto_approve is not None:
            sess.account = self._accounts(self.auto_approve)
            sess.move("confirmed")
        async with self._generated:
            self._generated.notify_all()
