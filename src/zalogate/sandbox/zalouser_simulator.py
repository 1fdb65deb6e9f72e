"""The ``zalouser`` simulator: a personal Zalo account against ``FakeZaloPersonal``.

The simulated world has three accounts and one group:

* the bot's account (:attr:`ZalouserSimulator.bot_uid`, "Zalogate Bot"): the gateway logs it
  in, first by QR (``prepare``, like ``zalogate channels login``), then from the saved cookies;
* the sandbox user ("Sandbox User", a friend of the bot): the person at the terminal;
* another group member ("Minh Anh"), so the group is not a two-person chat.

``prepare`` runs the channel's own ``login_interactive`` against the fake: the QR code is
drawn and saved (0600) as a real login shows it, the simulated phone of the bot's account
scans it and confirms, and the channel saves the session in
``<state_dir>/credentials/zalouser/zalogate-sandbox.json`` (a profile of its own, so a real
session in the same state dir is never replaced); the gateway then starts from that file.

The user's messages travel through the fake as a Zalo client would see them (501 direct
messages, 521 group messages with ``mentions`` at UTF-16 positions), and the bot's replies
are what the gateway's client sent to the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zalogate.core.channel import LoginUI
from zalogate.sandbox.simulators import BotReply, SandboxError
from zalogate.store import write_private_file
from zalogate.testing.fake_personal import FakeZaloPersonal, SentRecord

if TYPE_CHECKING:
    from zalogate.config import ZalogateConfig
    from zalogate.core.channel import Admission
    from zalogate.core.model import InboundMessage

__all__ = ["SANDBOX_PROFILE", "ZalouserSimulator"]

log = logging.getLogger(__name__)

# Keys of the user's channels.zalouser block that would point the sandbox at the real Zalo
# (hosts, listener URL) or at a real saved session (profile, accounts).
_ZALOUSER_ENDPOINT_KEYS = frozenset(
    {
        "accounts",
        "defaultAccount",
        "enabled",
        "profile",
        "apiHosts",
        "websocketUrl",
        "clientVersion",
    }
)
_PROFILE_ENV_VARS = ("ZALOUSER_PROFILE", "ZCA_PROFILE")
SANDBOX_PROFILE = "zalogate-sandbox"
"""The credential profile the sandbox logs the bot's account into."""
_REPLY_KINDS = {"text": "text", "photo": "photo", "link": "text", "file": "file"}
_LISTENER_WAIT = 15.0
"""Seconds a message waits for the gateway's websocket listener to be connected."""
_PHONE_WAIT = 10.0
"""Seconds the simulated phone waits for the login to show the scan before confirming."""


class _PhoneLogin(LoginUI):
    """The login's terminal (``LoginUI``) with a simulated phone next to it.

    Progress lines go to ``info``; the QR image is saved 0600 and its path printed, as
    ``channels login`` does; then the phone of the bot's account scans the code and, once
    the login reported the scan, confirms it.
    """

    def __init__(
        self,
        fake: FakeZaloPersonal,
        bot_uid: str,
        bot_name: str,
        qr_path: Path,
        info: Callable[[str], None],
    ) -> None:
        self._fake = fake
        self._bot_uid = bot_uid
        self._bot_name = bot_name
        self._qr_path = qr_path
        self._info = info
        self._progress = asyncio.Event()
        self._phones: set[asyncio.Task[None]] = set()

    def info(self, message: str) -> None:
        """Print a progress line of the login."""
        self._progress.set()
        self._info(message)

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Replace any older session: the fake is new, so an old one cannot work."""
        return True

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Save the QR image (0600) and hand the code to the simulated phone."""
        path = write_private_file(self._qr_path, png)
        self._info(f"QR image saved to: {path}")
        phone = asyncio.create_task(self._phone(), name="sandbox-phone")
        self._phones.add(phone)
        phone.add_done_callback(self._phones.discard)
        return path

    async def _phone(self) -> None:
        # Run after the login printed its instructions and started waiting for the scan.
        await asyncio.sleep(0)
        self._progress.clear()
        try:
            self._info(f"(simulated phone) {self._bot_name} scans the QR code with the Zalo app")
            self._fake.qr.scan(self._bot_uid)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_PHONE_WAIT):
                    await self._progress.wait()  # the login saw the scan
            self._info(f"(simulated phone) {self._bot_name} confirms the login on the phone")
            self._fake.qr.confirm()
        except LookupError:  # the code expired or the login gave up meanwhile
            self._info("(simulated phone) the QR code is no longer waiting for the phone")

    async def aclose(self) -> None:
        """Stop a phone that is still acting (the login failed meanwhile)."""
        for phone in list(self._phones):
            phone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await phone


class ZalouserSimulator:
    """The ``zalouser`` channel against :class:`FakeZaloPersonal` (see the module docstring)."""

    channel = "zalouser"
    bot_uid = "3311223344556677001"
    bot_name = "Zalogate Bot"
    user_id = "6011223344556677002"
    user_name = "Sandbox User"
    other_uid = "6011223344556677003"
    other_name = "Minh Anh"
    group_id = "9011223344556677004"
    group_name = "Sandbox Group"

    def __init__(self) -> None:
        # The gateway skips a message id it already handled: with a kept state dir
        # (--state-dir) a new run must not reuse the last run's ids, so count from the clock.
        self.fake = FakeZaloPersonal(long_poll_s=0.5, first_message_id=time.time_ns() // 10_000)
        self._cursor = 0
        self.qr_path: Path | None = None
        """Where ``prepare`` saved the login QR image."""

    async def start(self) -> None:
        """Start the fake and create the accounts and the group."""
        await self.fake.start()
        fake = self.fake
        fake.add_account(self.bot_uid, self.bot_name, friends=(self.user_id,))
        fake.add_account(self.user_id, self.user_name)
        fake.add_account(self.other_uid, self.other_name)
        fake.add_group(self.group_id, self.group_name, [self.user_id, self.bot_uid, self.other_uid])

    async def stop(self) -> None:
        """Stop the fake."""
        await self.fake.stop()

    def channel_config(self, user_block: Mapping[str, Any]) -> dict[str, Any]:
        """The user's policy keys, with every Zalo host pointing at the fake."""
        kept = {k: v for k, v in user_block.items() if k not in _ZALOUSER_ENDPOINT_KEYS}
        base = self.fake.base_url
        return {
            **kept,
            "enabled": True,
            # Its own credential profile: with --state-dir pointing at a real state dir, the
            # sandbox login must not replace the real account's saved session.
            "profile": SANDBOX_PROFILE,
            "apiHosts": {"id": base, "wpa": base, "jr": base},
            "websocketUrl": self.fake.ws_url,
        }

    def context_extras(self) -> dict[str, Any]:
        """Channel options: photos on the loopback fake may be fetched, no profile from the
        environment (the sandbox's session is its own), a short QR validity."""
        from zalogate.channels.zalouser.channel import OPTIONS_EXTRA, ZalouserChannelOptions

        env = {k: v for k, v in os.environ.items() if k not in _PROFILE_ENV_VARS}
        options = ZalouserChannelOptions(
            env=env, allow_loopback_media=True, login_wait=60.0, qr_timeout=30.0
        )
        return {OPTIONS_EXTRA: options}

    def attach(self, gateway_url: str) -> None:
        """Nothing to do: the gateway connects to the fake."""

    async def prepare(
        self, config: ZalogateConfig, state_dir: Path, info: Callable[[str], None]
    ) -> None:
        """Log the bot's account in by QR, as ``zalogate channels login`` does.

        Raises:
            SandboxError: The login failed (the message says why).
        """
        from zalogate.channels.zalouser.channel import create_channel
        from zalogate.channels.zalouser.errors import ZalouserChannelError
        from zalogate.core.channel import ChannelContext
        from zalogate.store import Store

        info("zalouser: logging the bot's Zalo account in by QR (zalogate channels login)")
        self.qr_path = state_dir / "tmp" / "zalouser-login-qr-default.png"
        phone = _PhoneLogin(self.fake, self.bot_uid, self.bot_name, self.qr_path, info)
        async with await Store.open(state_dir) as store:
            context = ChannelContext(
                config=config,
                state_dir=state_dir,
                store=store,
                inbox=_NoInbox(),
                logger=logging.getLogger("zalogate.channels.zalouser"),
                extras=self.context_extras(),
            )
            channel = create_channel(context)
            try:
                account = channel.accounts()[0]
                line = await channel.login_interactive(account, phone)
            except ZalouserChannelError as exc:
                raise SandboxError(f"the sandbox QR login failed: {exc}") from exc
            finally:
                await phone.aclose()
                await channel.aclose()
        info(line)

    async def _listening(self) -> None:
        # The fake hands a message only to the listeners connected at that moment.
        try:
            await self.fake.wait_for_listener(self.bot_uid, timeout_s=_LISTENER_WAIT)
        except TimeoutError:
            raise SandboxError(
                f"the gateway's zalouser listener did not connect within {_LISTENER_WAIT:g} s"
                " (see the gateway log)"
            ) from None

    async def say(self, text: str) -> None:
        """The sandbox user sends ``text`` to the bot's account in a direct chat."""
        await self._listening()
        await self.fake.user(self.user_id).says_to(self.bot_uid, text)

    async def say_in_group(self, text: str, *, mention: bool) -> str | None:
        """The sandbox user writes in the group, mentioning the bot or not.

        A mention is ``@Zalogate Bot`` where the text already has it, else in front of the
        text; the message carries it as Zalo does (the bot's uid at its UTF-16 position and
        length). Zalo passes every group message on to a personal account; whether the bot
        answers is the gateway's decision (``requireMention``, the group policy), so no note
        is returned.
        """
        await self._listening()
        member = self.fake.group(self.group_id).user(self.user_id)
        if mention:
            tag = f"@{self.bot_name}"
            written = text if tag in text else f"{tag} {text}"
            await member.says(written, mentions=[self.bot_uid])
        else:
            await member.says(text)
        return None

    def _is_reply(self, record: SentRecord) -> bool:
        return record.sender == self.bot_uid and record.kind in _REPLY_KINDS

    async def next_reply(self, timeout: float) -> BotReply | None:  # noqa: ASYNC109
        """Wait for the next message the bot's account sent (text, photo, link or file)."""
        try:
            record = await self.fake.wait_for_sent(
                self._is_reply, count=self._cursor + 1, timeout_s=timeout
            )
        except TimeoutError:
            return None
        self._cursor += 1
        return self._reply(record)

    def _reply(self, record: SentRecord) -> BotReply:
        kind = _REPLY_KINDS[record.kind]
        params = record.params
        keys = {"link": ("href",), "photo": ("rawUrl", "normalUrl", "oriUrl")}.get(record.kind, ())
        media_url = next((str(params[k]) for k in keys if params.get(k)), None)
        return BotReply(
            chat_id=record.thread_id,
            text=record.text or "",
            in_group=record.thread_type == "group",
            media_url=media_url,
            kind=kind,
        )


class _NoInbox:
    """The login runs before the gateway: nothing may be admitted."""

    async def admit(self, message: InboundMessage) -> Admission:
        raise RuntimeError("the sandbox login does not receive messages")
