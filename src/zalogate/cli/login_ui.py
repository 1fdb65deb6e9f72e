"""The terminal side of an interactive login (``channels login``): progress lines, yes/no
questions and the QR code, for a channel's :class:`~zalogate.core.channel.Login`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from zalogate.cli.state import out_console
from zalogate.core.channel import LoginUI
from zalogate.store import write_private_file

__all__ = ["ConsoleLoginUI"]


class ConsoleLoginUI(LoginUI):
    """The terminal side of an interactive login; a link is printed as its label, then the URL."""

    def __init__(self, state_dir: Path, channel: str, account_id: str) -> None:
        self._qr_path = state_dir / "tmp" / f"{channel}-login-qr-{account_id}.png"
        self.declined = False
        """A question was answered no (e.g. "replace the session?")."""
        self.qr_shown = False

    @property
    def kept_session(self) -> bool:
        """True when the user declined to replace the session and no new login happened."""
        return self.declined and not self.qr_shown

    def info(self, message: str) -> None:
        """Print a progress line."""
        out_console.print(message, markup=False)

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Ask on the terminal; without one, take ``default``."""
        if not sys.stdin.isatty():
            answer = default
        else:
            answer = await asyncio.to_thread(typer.confirm, question, default=default)
        if not answer:
            self.declined = True
        return answer

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Save the QR image (0600), draw it with half blocks when its text is known."""
        self.qr_shown = True
        path = write_private_file(self._qr_path, png)
        if payload:
            import segno

            segno.make(payload, error="l").terminal(out=sys.stdout, compact=True)
        out_console.print(f"QR image saved to: {path}", markup=False)
        return path
