"""Webhook delivery: one worker per bot POSTs updates, with retries."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import httpx2

from zalogate.testing.fake_botapi.actors import FakeBot
from zalogate.testing.fake_botapi.models import WebhookFailure, log
from zalogate.testing.fake_botapi.state import BotApiState


class WebhookDelivery(BotApiState):
    """POSTing updates to a bot's webhook."""

    def _start_workers(self, bot: FakeBot) -> None:
        for _ in range(self.webhook_concurrency):
            self._workers.append(asyncio.create_task(self._webhook_worker(bot)))

    def _delivery_url(self, url: str) -> str:
        """Where a POST for the registered ``url`` really goes (see ``deliver_webhooks_to``)."""
        base = self.deliver_webhooks_to
        if not base:
            return url
        parts = urllib.parse.urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{base.rstrip('/')}{parts.path or '/'}{query}"

    async def _webhook_worker(self, bot: FakeBot) -> None:
        while not self._stopping:
            if bot.webhook_url and bot._pending:
                await self._deliver(bot, bot._hand_out())
            else:
                await bot._signal.wait()

    async def _deliver(self, bot: FakeBot, update: dict[str, Any]) -> None:
        assert self._webhook_client is not None
        url, secret = bot.webhook_url, bot.webhook_secret
        target = self._delivery_url(url)
        content = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": secret}
        status: int | None = None
        error: str | None = None
        for delay in (0.0, *self.webhook_retry_delays):
            if delay:
                await asyncio.sleep(delay)
            if bot.webhook_url != url:
                # The webhook changed or was deleted meanwhile: hand the update to the new mode.
                bot._pending.appendleft(update)
                bot._signal.notify()
                return
            try:
                response = await self._webhook_client.post(target, content=content, headers=headers)
            except httpx2.HTTPError as exc:
                status, error = None, type(exc).__name__
                continue
            status, error = response.status_code, None
            if status == 200:
                self.webhook_deliveries += 1
                return
        log.warning("fake Zalo gave up a webhook delivery (status=%s, error=%s)", status, error)
        self.webhook_failures.append(WebhookFailure(bot.id, url, update, status, error))
