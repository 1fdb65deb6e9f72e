"""The ``zalooa`` channel against :class:`~zalogate.testing.FakeZaloOA`.

``prepare`` takes the operator's step: the consent link opened by the (simulated) OA admin and
the code traded for tokens, saved where the channel reads them. The sandbox user's messages
reach the gateway as signed webhook POSTs; OAs have no group chats.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2

from zalogate.oa import OAuthClient, TokenFile
from zalogate.sandbox.simulators import BotReply
from zalogate.testing.fake_oa import FakeZaloOA

if TYPE_CHECKING:
    from zalogate.config import ZalogateConfig

__all__ = ["ZalooaSimulator"]

_ENDPOINT_KEYS = frozenset(
    {
        "accounts",
        "defaultAccount",
        "enabled",
        "appId",
        "secretKey",
        "oaSecretKey",
        "oaId",
        "apiUrl",
        "oauthUrl",
        "redirectUri",
        "webhookPath",
    }
)


class ZalooaSimulator:
    """A fake Official Account, its admin and one user."""

    channel = "zalooa"
    user_id = "246845883529197922"
    user_name = "Sandbox User"
    group_id = ""
    group_name = ""
    bot_name = "Sandbox OA"

    def __init__(self) -> None:
        self.fake = FakeZaloOA(oa_name=self.bot_name)
        self._cursor = 0

    async def start(self) -> None:
        """Start the fake OA platform."""
        await self.fake.start()

    async def stop(self) -> None:
        """Stop it."""
        await self.fake.stop()

    def channel_config(self, user_block: Mapping[str, Any]) -> dict[str, Any]:
        """The user's policy keys, with the fake app's keys and hosts."""
        kept = {k: v for k, v in user_block.items() if k not in _ENDPOINT_KEYS}
        fake = self.fake
        return {**kept, "enabled": True, **fake.channel_section(), "redirectUri": fake.redirect_uri}

    def context_extras(self) -> dict[str, Any]:
        """No knobs."""
        return {}

    async def prepare(
        self, config: ZalogateConfig, state_dir: Path, info: Callable[[str], None]
    ) -> None:
        """The OA admin opens the consent link; the code is traded and the pair saved."""
        fake = self.fake
        oauth = OAuthClient(fake.app_id, fake.secret_key, oauth_url=fake.base_url)
        try:
            consent = oauth.consent(fake.redirect_uri)
            info("Open this link as the OA admin and allow access:")
            info(consent.url)
            async with httpx2.AsyncClient(trust_env=False) as browser:
                answer = await browser.get(consent.url)
            callback = dict(
                urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["location"]).query)
            )
            info(f"(simulated admin) allowed access for OA {callback['oa_id']}")
            pair = await oauth.exchange(callback["code"], callback["state"])
        finally:
            await oauth.aclose()
        TokenFile(state_dir / "zalooa" / "default", "grant").save(pair)

    def attach(self, gateway_url: str) -> None:
        """Deliver webhooks to the started gateway."""
        self.fake.webhook_url = f"{gateway_url}/zalooa/default/webhook"

    async def say(self, text: str) -> None:
        """The user writes to the OA (a signed ``user_send_text`` webhook)."""
        self.fake.user(self.user_id, self.user_name)
        await self.fake.deliver(
            self.fake.user_message(self.user_id, "user_send_text", {"text": text})
        )

    async def say_in_group(self, text: str, *, mention: bool) -> str | None:
        """OAs have no groups."""
        return "a Zalo Official Account has no group chats: only direct messages reach it"

    async def next_reply(self, timeout: float) -> BotReply | None:  # noqa: ASYNC109
        """The next message the OA sent."""
        try:
            sent = await self.fake.wait_for_sent(self._cursor + 1, timeout=timeout)
        except TimeoutError:
            return None
        record = sent[self._cursor]
        self._cursor += 1
        kind = "text" if record.attachment is None else "photo"
        return BotReply(chat_id=record.user_id, text=record.text or "", kind=kind)
