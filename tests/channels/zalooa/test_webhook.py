"""The OA webhook answers 2xx only once the message is durable."""

from __future__ import annotations

import json
from pathlib import Path

from zalogate.channels.zalooa.webhook import OAWebhook
from zalogate.channels.zalooa.window import Interactions
from zalogate.core.channel import Admission
from zalogate.core.model import InboundMessage
from zalogate.oa.signature import sign

APP_ID, OA_ID, SECRET = "1234567890123456789", "388613280878808645", "OA_SECRET_EXAMPLE"


class Unreachable:
    """An inbox that cannot store (no JetStream majority, a full disk)."""

    def __init__(self) -> None:
        self.tries = 0

    async def admit(self, message: InboundMessage) -> Admission:
        self.tries += 1
        raise ConnectionError("no JetStream majority")


async def test_a_message_the_inbox_cannot_store_is_answered_503(tmp_path: Path) -> None:
    inbox = Unreachable()
    webhook = OAWebhook(
        channel="zalooa",
        account_id="default",
        app_id=APP_ID,
        oa_secret=lambda: SECRET,
        oa_id=lambda: OA_ID,
        inbox=inbox,
        interactions=Interactions(tmp_path / "interactions.json"),
    )
    event = {
        "app_id": APP_ID,
        "event_name": "user_send_text",
        "timestamp": "1700000000000",
        "sender": {"id": "42"},
        "recipient": {"id": OA_ID},
        "message": {"msg_id": "m1", "text": "hi"},
    }
    body = json.dumps(event).encode()
    signature = "mac=" + sign(APP_ID, body, event["timestamp"], SECRET)
    assert await webhook.handle(body, signature) == 503  # Zalo delivers it again
    assert inbox.tries == 1
