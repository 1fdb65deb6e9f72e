"""The §2.8 reference event (zalo-personal.md): one 501 DM, as the vectors were computed over.

Both implementations of the protocol (``zalogate.personal`` and the fake's own ``wire``) are
tested against the same bytes, so the message they encode lives here once.
"""

from __future__ import annotations

from typing import Any

__all__ = ["VECTOR_MESSAGE", "VECTOR_PAYLOAD", "vector_message"]

VECTOR_MESSAGE: dict[str, Any] = {
    "actionId": "1",
    "msgId": "7000000000002",
    "cliMsgId": "1700000000123",
    "msgType": "webchat",
    "uidFrom": "2000000000000000001",
    "idTo": "0",
    "dName": "Alice",
    "ts": "1700000000123",
    "status": 1,
    "content": "hello",
    "notify": "1",
    "ttl": 0,
    "userId": "0",
    "uin": "0",
    "cmd": 501,
    "st": 3,
    "at": 5,
    "realMsgId": "0",
}
VECTOR_PAYLOAD: dict[str, Any] = {"data": {"msgs": [VECTOR_MESSAGE]}, "error_code": 0}


def vector_message(**over: Any) -> dict[str, Any]:
    """A copy of the reference message with ``over`` changed."""
    return {**VECTOR_MESSAGE, **over}
