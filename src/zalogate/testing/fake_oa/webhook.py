"""Webhook delivery of ``FakeZaloOA``: events signed as Zalo signs them, retried on failure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2

from zalogate.oa.signature import sign
from zalogate.testing.fake_oa.base import FakeOABase
from zalogate.testing.fake_oa.state import Delivery, SentMessage, new_id

__all__ = ["WebhookDelivery"]


class WebhookDelivery(FakeOABase):
    """Mixin of ``FakeZaloOA``: builds, signs and POSTs events to ``webhook_url``."""

    def event(self, event_name: str, **fields: Any) -> dict[str, Any]:
        """An event envelope (ids and ``timestamp`` as strings, like Zalo's)."""
        body: dict[str, Any] = {"app_id": self.app_id, "event_name": event_name}
        body.update(fields)
        body.setdefault("timestamp", str(int(self.clock() * 1000)))
        return body

    def user_message(
        self, user_id: str, event_name: str, message: dict[str, Any]
    ) -> dict[str, Any]:
        """A user → OA event; counts as an interaction (the send window restarts)."""
        user = self.users[user_id]
        user.last_interaction = self.clock()
        message.setdefault("msg_id", new_id(19))
        self.messages_by_id[message["msg_id"]] = user_id
        self.history.append(
            {
                "src": 1,
                "time": int(self.clock() * 1000),
                "type": event_name.removeprefix("user_send_"),
                "message": message.get("text", ""),
                "message_id": message["msg_id"],
                "from_id": user_id,
                "to_id": self.oa_id,
                "from_display_name": user.name,
            }
        )
        return self.event(
            event_name,
            sender={"id": user_id},
            recipient={"id": self.oa_id},
            user_id_by_app=str(int(user_id) // 7 + 1) if user_id.isdigit() else user_id,
            message=message,
        )

    def echo(self, sent: SentMessage) -> None:
        """Deliver the ``oa_send_*`` echo of a message the OA sent (in the background)."""
        if self.webhook_url is None:
            return
        name = "oa_send_text" if sent.attachment is None else "oa_send_file"
        event = self.event(
            name,
            sender={"id": self.oa_id},
            recipient={"id": sent.user_id},
            message={"msg_id": sent.message_id, "text": sent.text or ""},
        )
        task = asyncio.get_running_loop().create_task(self.deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def signed(self, body: bytes, timestamp: str) -> str:
        """The ``X-ZEvent-Signature`` value for ``body`` under ``signature_variant``."""
        prefix, first = self.signature_variant.split("=")
        first_id = self.app_id if first == "app_id" else self.oa_id
        mac = sign(first_id, body, timestamp, self.oa_secret_key)
        return f"mac={mac}" if prefix == "mac" else mac

    async def deliver(self, event: dict[str, Any]) -> Delivery:
        """POST ``event`` (signed); retried after each of ``webhook_retry_delays`` on failure."""
        # Key order and spacing unlike a re-serialisation, so a verifier must use raw bytes.
        body = json.dumps(event, ensure_ascii=False, indent=1).encode()
        signature = self.signed(body, str(event["timestamp"]))
        status: int | None = None
        for delay in (0.0, *self.webhook_retry_delays):
            if delay:
                await asyncio.sleep(delay)
            status = await self._post(body, signature)
            if status == 200:
                break
        delivery = Delivery(body, signature, status)
        self.deliveries.append(delivery)
        return delivery

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """POST the same bytes again (Zalo's at-least-once retry)."""
        status = await self._post(delivery.body, delivery.signature)
        again = Delivery(delivery.body, delivery.signature, status)
        self.deliveries.append(again)
        return again

    async def _post(self, body: bytes, signature: str) -> int | None:
        if self.webhook_url is None:
            raise RuntimeError("set FakeZaloOA.webhook_url before delivering events")
        async with httpx2.AsyncClient(timeout=self.webhook_timeout, trust_env=False) as client:
            try:
                response = await client.post(
                    self.webhook_url,
                    content=body,
                    headers={"Content-Type": "application/json", "X-ZEvent-Signature": signature},
                )
            except httpx2.HTTPError:
                return None
        return response.status_code
