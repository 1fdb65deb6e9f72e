"""`PersonalApi`: the session endpoints of a logged-in personal account (reference §4).

Every call goes through `PersonalHttp.call` (the one encrypted seam). The endpoints are
grouped by area, one module each: `api_sending` (text, links, typing, undo), `api_uploads`
(images, albums, files), `api_stickers`, `api_video` (hosted videos), `api_reactions`,
`api_receipts` (delivered/seen) and `api_directory` (friends, groups, profiles). The values
they take and return live in `spans` (mentions, styles), `outgoing` (quotes, receipts, sent
ids), `reactions` and `profiles`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zalogate.personal.api_directory import DirectoryApi
from zalogate.personal.api_reactions import ReactionApi
from zalogate.personal.api_receipts import ReceiptApi
from zalogate.personal.api_sending import SendingApi
from zalogate.personal.api_stickers import StickerApi
from zalogate.personal.api_uploads import UploadApi
from zalogate.personal.api_video import VideoApi

__all__ = ["PersonalApi"]


class PersonalApi(
    SendingApi, UploadApi, StickerApi, VideoApi, ReactionApi, ReceiptApi, DirectoryApi
):
    """Session endpoints of a logged-in account.

    Args:
        session: the logged-in session (service map, key, imei).
        http: the HTTP layer with ``session`` attached.
    """

    def __repr__(self) -> str:
        return f"PersonalApi(uid={self.session.uid!r})"

    async def keepalive(self) -> Mapping[str, Any]:
        """The HTTP keep-alive call (plain answer, e.g. ``{"config_vesion": 1}``)."""
        result = await self.http.call(
            "GET",
            self._url("chat", "/keepalive"),
            {"imei": self.session.imei},
            encrypted_response=False,
        )
        return result if isinstance(result, Mapping) else {}
