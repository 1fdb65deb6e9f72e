"""`SendingApi`: text, links, typing and undo (reference §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from zalogate.personal.api_base import NO_RETRY, ApiBase
from zalogate.personal.crypto import compact_json
from zalogate.personal.errors import ConfigurationError, ProtocolError
from zalogate.personal.outgoing import Quote, SentMessage, Urgency
from zalogate.personal.session import ThreadType
from zalogate.personal.spans import Mention, TextStyle
from zalogate.text import utf16_len

__all__ = ["SendingApi"]

# msgType string -> the numeric type quotes carry (zca-js getClientMessageType).
_CLIENT_MSG_TYPES: Final[Mapping[str, int]] = {
    "webchat": 1,
    "chat.voice": 31,
    "chat.photo": 32,
    "chat.sticker": 36,
    "chat.doodle": 37,
    "chat.recommended": 38,
    "chat.link": 38,
    "chat.location.new": 43,
    "chat.video.msg": 44,
    "share.file": 46,
    "chat.gif": 49,
}


class SendingApi(ApiBase):
    """Sending text and links, showing "typing...", recalling a message."""

    async def send_text(
        self,
        thread_id: str,
        text: str,
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        mentions: Sequence[Mention] = (),
        styles: Sequence[TextStyle] = (),
        quote: Quote | None = None,
        urgency: Urgency = Urgency.DEFAULT,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Send a text message to a user or a group.

        Args:
            thread_id: user id or group id.
            text: the message (must contain the ``@Name`` text of each mention).
            thread_type: `ThreadType.USER` or `ThreadType.GROUP`.
            mentions: group mentions (ignored for users, as by the web client).
            styles: bold/italic/colour/... ranges.
            quote: the message this one replies to.
            urgency: important / urgent marker.
            ttl_ms: self-destruct after this many milliseconds (0 = never).

        Raises:
            ConfigurationError: empty text or mentions outside the text.
            ApiError: Zalo refused the message.
        """
        if not text:
            raise ConfigurationError("Missing message content: text is empty")
        if ttl_ms < 0:
            raise ConfigurationError("ttl_ms must not be negative")
        group = self._is_group(thread_type)
        text_len = utf16_len(text)
        mention_info = None
        if group and mentions:
            valid = [m for m in mentions if m.pos >= 0 and m.uid and m.length > 0]
            for m in valid:
                if m.pos + m.length > text_len:
                    raise ConfigurationError(
                        f"mention of {m.uid} at {m.pos}+{m.length} is outside the text "
                        f"({text_len} UTF-16 units)"
                    )
            if sum(m.length for m in valid) > text_len:
                raise ConfigurationError("mentions are longer than the text")
            if valid:
                mention_info = compact_json(
                    [
                        {
                            "pos": m.pos,
                            "uid": m.uid,
                            "len": m.length,
                            "type": 1 if m.uid == "-1" else 0,
                        }
                        for m in valid
                    ]
                )
        for s in styles:
            if s.start < 0 or s.length <= 0 or s.start + s.length > text_len:
                raise ConfigurationError(
                    f"style {s.style!r} at {s.start}+{s.length} is outside the text"
                )
        client_id = self._client_id()
        params: dict[str, Any]
        if quote is not None:
            params = {
                "toid": None if group else thread_id,
                "grid": thread_id if group else None,
                "message": text,
                "clientId": client_id,
                "mentionInfo": mention_info,
                # "0" means "me" on the wire; the server wants the real uid.
                "qmsgOwner": self.session.uid if quote.owner_id == "0" else quote.owner_id,
                "qmsgId": quote.msg_id,
                "qmsgCliId": quote.cli_msg_id,
                "qmsgType": _CLIENT_MSG_TYPES.get(quote.msg_type, 1),
                "qmsgTs": quote.ts,
                "qmsg": quote.text,
                "imei": None if group else self.session.imei,
                "visibility": 0 if group else None,
                "qmsgAttach": compact_json(dict(quote.attach or {})) if group else None,
                "qmsgTTL": quote.ttl,
                "ttl": ttl_ms,
            }
        elif group:
            params = {
                "message": text,
                "clientId": client_id,
                "mentionInfo": mention_info,
                "ttl": ttl_ms,
                "visibility": 0,
                "grid": thread_id,
            }
        else:
            # Key order matches the reference vector (§2.8).
            params = {
                "message": text,
                "clientId": client_id,
                "imei": self.session.imei,
                "ttl": ttl_ms,
                "toid": thread_id,
            }
        if styles:
            params["textProperties"] = compact_json(
                {
                    "styles": [{"start": s.start, "len": s.length, "st": s.style} for s in styles],
                    "ver": 0,
                }
            )
        if urgency != Urgency.DEFAULT:
            params["metaData"] = {"urgency": int(urgency)}
        if group:
            path = (
                "/api/group/quote"
                if quote
                else ("/api/group/mention" if mention_info else "/api/group/sendmsg")
            )
            url = self._url("group", path)
        else:
            path = "/api/message/quote" if quote else "/api/message/sms"
            url = self._url("chat", path)
        result = await self.http.call("POST", url, params, query=NO_RETRY)
        return self._sent(result, client_id, path)

    async def parse_link(self, link: str) -> Mapping[str, Any]:
        """Preview data of ``link`` (``thumb``, ``title``, ``desc``, ``src``, ``href``, ...)."""
        params = {"link": link, "version": 1, "imei": self.session.imei}
        result = await self.http.call("GET", self._url("file", "/api/message/parselink"), params)
        data = result.get("data") if isinstance(result, Mapping) else None
        if not isinstance(data, Mapping):
            raise ProtocolError("parselink answer lacks data")
        return data

    async def send_link(
        self,
        thread_id: str,
        link: str,
        *,
        text: str = "",
        thread_type: ThreadType | str = ThreadType.USER,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Send a link with its preview (``parselink`` first); the link is appended to text."""
        if not link:
            raise ConfigurationError("link must not be empty")
        preview = await self.parse_link(link)
        group = self._is_group(thread_type)
        message = text if link in text else f"{text} {link}".strip()
        client_id = self._client_id()
        params: dict[str, Any] = {
            "msg": message,
            "href": preview.get("href") or link,
            "src": preview.get("src") or "",
            "title": preview.get("title") or "",
            "desc": preview.get("desc") or "",
            "thumb": preview.get("thumb") or "",
            "type": 2,
            "media": compact_json(preview.get("media") or {}),
            "ttl": ttl_ms,
            "clientId": client_id,
        }
        if group:
            params.update(grid=thread_id, imei=self.session.imei)
            path = "/api/group/sendlink"
            url = self._url("group", path)
        else:
            params.update(toId=thread_id, mentionInfo="")
            path = "/api/message/link"
            url = self._url("chat", path)
        result = await self.http.call("POST", url, params, query=NO_RETRY)
        return self._sent(result, client_id, path)

    async def send_typing(
        self, thread_id: str, *, thread_type: ThreadType | str = ThreadType.USER
    ) -> Any:
        """Show "typing..." in a conversation."""
        if self._is_group(thread_type):
            params: dict[str, Any] = {"grid": thread_id, "imei": self.session.imei}
            url = self._url("group", "/api/group/typing")
        else:
            params = {"toid": thread_id, "destType": 3, "imei": self.session.imei}
            url = self._url("chat", "/api/message/typing")
        return await self.http.call("POST", url, params)

    async def undo(
        self,
        thread_id: str,
        *,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """Recall (undo) a message this account sent."""
        params: dict[str, Any] = {
            "msgId": msg_id,
            "clientId": self._client_id(),
            "cliMsgIdUndo": cli_msg_id,
        }
        if self._is_group(thread_type):
            params.update(grid=thread_id, visibility=0, imei=self.session.imei)
            url = self._url("group", "/api/group/undomsg")
        else:
            params["toid"] = thread_id
            url = self._url("chat", "/api/message/undo")
        return await self.http.call("POST", url, params)
