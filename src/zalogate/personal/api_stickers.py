"""`StickerApi`: finding stickers by keyword and sending them (zca-js 2.2.0 ``getStickers``,
``getStickersDetail``, ``sendSticker``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zalogate.personal.api_base import NO_RETRY, ApiBase
from zalogate.personal.errors import ConfigurationError, ProtocolError
from zalogate.personal.outgoing import SentMessage
from zalogate.personal.session import ThreadType

__all__ = ["Sticker", "StickerApi"]


@dataclass(frozen=True, slots=True)
class Sticker:
    """What a sticker send needs (``id``, ``cate_id``, ``type``) plus what describes it."""

    id: int
    cate_id: int
    type: int
    text: str = ""
    url: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sticker:
        """A ``sticker_detail`` answer (``{id, cateId, type, text, stickerUrl, …}``).

        Raises:
            ProtocolError: ``id``, ``cateId`` or ``type`` missing or not numbers.
        """
        try:
            return cls(
                id=int(data["id"]),
                cate_id=int(data["cateId"]),
                type=int(data["type"]),
                text=str(data.get("text") or ""),
                url=str(data.get("stickerUrl") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("sticker_detail answer lacks id, cateId or type") from None


class StickerApi(ApiBase):
    """Sticker search and sends."""

    async def search_stickers(self, keyword: str) -> list[int]:
        """Ids of the stickers Zalo suggests for ``keyword`` (best first)."""
        if not keyword.strip():
            raise ConfigurationError("a sticker search needs a keyword")
        params = {"keyword": keyword, "gif": 1, "guggy": 0, "imei": self.session.imei}
        url = self._url("sticker", "/api/message/sticker/suggest/stickers")
        result = await self.http.call("GET", url, params)
        suggestions = result.get("sugg_sticker") if isinstance(result, Mapping) else None
        if not isinstance(suggestions, list):
            return []
        ids: list[int] = []
        for item in suggestions:
            if isinstance(item, Mapping) and isinstance(item.get("sticker_id"), int):
                ids.append(int(item["sticker_id"]))
        return ids

    async def sticker_detail(self, sticker_id: int) -> Sticker:
        """The category and type of one sticker (what `send_sticker` needs)."""
        url = self._url("sticker", "/api/message/sticker/sticker_detail")
        result = await self.http.call("GET", url, {"sid": sticker_id})
        if not isinstance(result, Mapping):
            raise ProtocolError("sticker_detail answer is not an object")
        return Sticker.from_json(result)

    async def send_sticker(
        self,
        thread_id: str,
        sticker: Sticker,
        *,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> SentMessage:
        """Send ``sticker`` to a user or a group.

        Raises:
            ConfigurationError: the sticker has no type (zca-js refuses it too).
        """
        if not sticker.type:
            raise ConfigurationError(f"sticker {sticker.id} has no type; look it up first")
        group = self._is_group(thread_type)
        client_id = self._client_id()
        params = {
            "stickerId": sticker.id,
            "cateId": sticker.cate_id,
            "type": sticker.type,
            "clientId": client_id,
            "imei": self.session.imei,
            "zsource": 101,
            "toid": None if group else thread_id,
            "grid": thread_id if group else None,
        }
        service, path = (
            ("group", "/api/group/sticker") if group else ("chat", "/api/message/sticker")
        )
        result = await self.http.call("POST", self._url(service, path), params, query=NO_RETRY)
        return self._sent(result, client_id, path)
