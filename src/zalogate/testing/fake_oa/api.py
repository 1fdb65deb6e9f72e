"""The OpenAPI host of ``FakeZaloOA``: sends, reactions, uploads and look-ups, strictly checked."""

from __future__ import annotations

import email.parser
import email.policy
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from zalogate.testing.fake_oa.base import FakeOABase
from zalogate.testing.fake_oa.state import (
    FREE_WINDOW,
    MAX_WINDOW,
    OAUser,
    RefusalError,
    SentMessage,
    Upload,
    new_id,
)

__all__ = ["ApiRoutes"]

_MB = 1024 * 1024
_UPLOADS: dict[str, tuple[int, tuple[str, ...], str]] = {
    "image": (_MB, (".jpg", ".jpeg", ".png"), "attachment_id"),
    "gif": (5 * _MB, (".gif",), "attachment_id"),
    "file": (5 * _MB, (".pdf", ".doc", ".docx", ".csv"), "token"),
}
_REACTIONS = {":>", "--b", ":-((", "/-strong", "/-heart", ":-h", ":o", "/-remove"}


def _json_body(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    if not headers.get("content-type", "").startswith("application/json"):
        raise RefusalError(-201, "Content-Type must be application/json")
    try:
        value = json.loads(body)
    except ValueError:
        raise RefusalError(-201, "body is invalid") from None
    if not isinstance(value, dict):
        raise RefusalError(-201, "body is invalid")
    return value


def _data_param(query: str) -> dict[str, Any]:
    raw = dict(urllib.parse.parse_qsl(query)).get("data")
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise RefusalError(-201, "data is invalid") from None
    if not isinstance(value, dict):
        raise RefusalError(-201, "data is invalid")
    return value


def _count(data: dict[str, Any], limit: int) -> tuple[int, int]:
    offset, count = data.get("offset", 0), data.get("count", limit)
    if not isinstance(offset, int) or not isinstance(count, int) or offset < 0 or count < 1:
        raise RefusalError(-201, "offset/count is invalid")
    if count > limit:
        raise RefusalError(-210, f"count exceeds the limit of {limit}")
    return offset, count


class ApiRoutes(FakeOABase):
    """Mixin of ``FakeZaloOA``: the ``/v2.0`` and ``/v3.0`` OA endpoints."""

    def api_answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Any:
        """The ``data`` of a successful call (``Refusal`` for every error Zalo would give)."""
        if "access_token" in dict(urllib.parse.parse_qsl(query)):
            raise RefusalError(-216, "Access token is invalid (send it in the access_token header)")
        token = headers.get("access_token")
        expiry = self.grant.access.get(token or "")
        if expiry is None:
            raise RefusalError(-216, "Access token is invalid")
        if self.clock() >= expiry:
            raise RefusalError(-220, "Access token has expired or been removed")
        self._count_call()
        fault = self.take_fault(path)
        if fault is not None:
            raise fault
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("POST", "/v3.0/oa/message/cs"): lambda: self._send_cs(_json_body(headers, body)),
            ("POST", "/v2.0/oa/message"): lambda: self._legacy_message(_json_body(headers, body)),
            ("GET", "/v2.0/oa/getoa"): lambda: {"oa_id": self.oa_id, "name": self.oa_name},
            ("GET", "/v3.0/oa/user/detail"): lambda: self._user_detail(_data_param(query)),
            ("GET", "/v3.0/oa/user/getlist"): lambda: self._followers(_data_param(query)),
            ("GET", "/v2.0/oa/listrecentchat"): lambda: self._recent(_data_param(query), None),
            ("GET", "/v2.0/oa/conversation"): lambda: self._conversation(_data_param(query)),
        }
        route = routes.get((method, path))
        if route is not None:
            return route()
        if method == "POST" and path.startswith("/v2.0/oa/upload/"):
            return self._upload(path.rsplit("/", 1)[1], headers, body)
        raise RefusalError(404, "empty or invalid API", status=404)

    def _count_call(self) -> None:
        if self.rate_limit is None:
            return
        now = self.clock()
        self._call_times = [t for t in self._call_times if now - t < 60.0]
        if len(self._call_times) >= self.rate_limit:
            raise RefusalError(-32, "The application has reached the API call limit")
        self._call_times.append(now)

    def _user(self, user_id: object) -> OAUser:
        if not isinstance(user_id, str) or not user_id:
            raise RefusalError(-201, "user_id is invalid")
        user = self.users.get(user_id)
        if user is None:
            raise RefusalError(-201, "user_id is invalid")
        return user

    def _window(self, user: OAUser) -> bool:
        """Whether a consultation message to ``user`` is billed; refuses outside the window."""
        if user.blocked:
            raise RefusalError(-217, "User has blocked invitations from this OA")
        if user.last_interaction is None:
            raise RefusalError(-232, "User has not interacted with the OA")
        age = self.clock() - user.last_interaction
        if age > MAX_WINDOW:
            raise RefusalError(-230, "User has not interacted with the OA in the past 7 days")
        if self.night_rule and self.local_hour() not in range(6, 22):
            raise RefusalError(-234, "Cannot send messages at night (22:00-06:00)")
        if self.quota is not None:
            if self.quota <= 0:
                raise RefusalError(-211, "Out of quota")
            self.quota -= 1
        return age > FREE_WINDOW

    def _send_cs(self, body: dict[str, Any]) -> dict[str, Any]:
        recipient, message = body.get("recipient"), body.get("message")
        if not isinstance(recipient, dict) or not isinstance(message, dict):
            raise RefusalError(-201, "recipient/message is invalid")
        user = self._user(recipient.get("user_id"))
        text = message.get("text")
        quote = message.get("quote_message_id")
        attachment = message.get("attachment")
        if text is not None and (not isinstance(text, str) or not text):
            raise RefusalError(-201, "text is invalid")
        if isinstance(text, str) and len(text) > 2000:
            raise RefusalError(-210, "text exceeds 2000 characters")
        if attachment is None and text is None:
            raise RefusalError(-201, "message is empty")
        if attachment is not None:
            self._check_attachment(attachment)
        if quote is not None and self.messages_by_id.get(str(quote)) != user.user_id:
            raise RefusalError(-201, "quote_message_id is invalid")
        billed = self._window(user)
        sent = SentMessage(new_id(), user.user_id, text, quote, attachment, billed, self.clock())
        self.sent.append(sent)
        self.messages_by_id[sent.message_id] = user.user_id
        self.history.append(
            {
                "src": 0,
                "time": int(sent.at * 1000),
                "type": "text" if attachment is None else "file",
                "message": text or "",
                "message_id": sent.message_id,
                "from_id": self.oa_id,
                "to_id": user.user_id,
                "from_display_name": self.oa_name,
            }
        )
        self._sent_signal.set()
        if self.echo_sends:
            self.echo(sent)
        return {
            "message_id": sent.message_id,
            "user_id": user.user_id,
            "sent_time": str(int(sent.at * 1000)),
        }

    def _check_attachment(self, attachment: object) -> None:
        if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
            raise RefusalError(-201, "attachment is invalid")
        payload = attachment["payload"]
        kind = attachment.get("type")
        if kind == "file":
            if (
                payload.get("token") not in self.uploads
                or self.uploads[payload["token"]].kind != "file"
            ):
                raise RefusalError(-201, "token is invalid")
            self._not_expired(payload["token"])
            return
        if kind != "template" or payload.get("template_type") != "media":
            raise RefusalError(-201, "attachment type is invalid")  # e.g. {"type": "image"}
        elements = payload.get("elements")
        if (
            not isinstance(elements, list)
            or len(elements) != 1
            or not isinstance(elements[0], dict)
        ):
            raise RefusalError(-201, "elements is invalid")
        element = elements[0]
        if element.get("media_type") not in ("image", "gif", "sticker"):
            raise RefusalError(-201, "media_type is invalid")
        if element.get("media_type") == "sticker":
            return
        attachment_id = element.get("attachment_id")
        if attachment_id not in self.uploads:
            raise RefusalError(-201, "attachment_id is invalid")
        self._not_expired(attachment_id)

    def _not_expired(self, upload_id: str) -> None:
        if self.clock() - self.uploads[upload_id].at > MAX_WINDOW:
            raise RefusalError(-100, "attachment_id was expired")

    def _legacy_message(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("sender_action")
        if not isinstance(action, dict):
            raise RefusalError(-240, "MessageV2 API has been shut down")
        user = self._user((body.get("recipient") or {}).get("user_id"))
        icon, target = action.get("react_icon"), action.get("react_message_id")
        if icon not in _REACTIONS:
            raise RefusalError(-201, "react_icon is invalid")
        if self.messages_by_id.get(str(target)) != user.user_id:
            raise RefusalError(-201, "react_message_id is invalid")
        self.reactions.append((user.user_id, str(target), str(icon)))
        self._sent_signal.set()
        return {"message_id": str(target), "user_id": user.user_id}

    def _upload(self, kind: str, headers: dict[str, str], body: bytes) -> Any:
        if kind not in _UPLOADS:
            raise RefusalError(404, "empty or invalid API", status=404)
        limit, extensions, key = _UPLOADS[kind]
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise RefusalError(-201, "file is invalid (multipart/form-data expected)")
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        part = next(
            (
                p
                for p in parsed.iter_parts()
                if p.get_param("name", header="content-disposition") == "file"
            ),
            None,
        )
        if part is None:
            raise RefusalError(-201, "file is invalid (no multipart field 'file')")
        filename = part.get_filename() or ""
        content = part.get_payload(decode=True) or b""
        if not isinstance(content, bytes):
            raise RefusalError(-201, "file is invalid")
        if not filename.lower().endswith(extensions):
            raise RefusalError(-201, f"file is invalid; only {', '.join(extensions)} are allowed")
        if len(content) > limit:
            raise RefusalError(-210, "file size exceeds the limit")
        upload_id = new_id(32)
        self.uploads[upload_id] = Upload(kind, filename, len(content), self.clock())
        return {key: upload_id}

    def _user_detail(self, data: dict[str, Any]) -> dict[str, Any]:
        user = self._user(data.get("user_id"))
        last = user.last_interaction
        return {
            "user_id": user.user_id,
            "display_name": user.name,
            "user_is_follower": user.follower,
            "user_last_interaction_date": self.ddmmyyyy(last) if last is not None else "",
            "avatar": "",
            "avatars": {},
        }

    def _followers(self, data: dict[str, Any]) -> dict[str, Any]:
        offset, count = _count(data, 50)
        followers = [u for u in self.users.values() if u.follower]
        page = followers[offset : offset + count]
        return {
            "total": len(followers),
            "count": len(page),
            "offset": offset,
            "users": [{"user_id": u.user_id} for u in page],
        }

    def _recent(self, data: dict[str, Any], user_id: str | None) -> list[Any]:
        offset, count = _count(data, 10)
        rows = [
            r
            for r in reversed(self.history)
            if user_id is None or user_id in (r["from_id"], r["to_id"])
        ]
        return rows[offset : offset + count]

    def _conversation(self, data: dict[str, Any]) -> list[Any]:
        return self._recent(data, self._user(data.get("user_id")).user_id)
