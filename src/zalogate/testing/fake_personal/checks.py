"""The strict session checks: refuse a call that lacks what zca-js 2.2.0 always sends.

Every rule is a fact read in zca-js 2.2.0's ``dist/`` (``utils.js`` ``makeURL`` /
``getDefaultHeaders`` / ``request`` and one ``apis/<name>.js`` per operation), so the fake
never refuses a request zca-js makes, and a client that drops or retypes a field fails in
tests instead of in production. A refusal is Zalo's plain envelope (HTTP 200,
``{"error_code", "error_message", "data": null}``), never an HTTP error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zalogate.testing.fake_personal.model import FakeGroup
from zalogate.text import utf16_len

__all__ = [
    "ERR_BAD_PARAMS",
    "ERR_SESSION",
    "RULES",
    "Refusal",
    "SessionView",
    "query_fields",
    "refusal",
    "ws_refusal",
]

ERR_SESSION = 600
ERR_BAD_PARAMS = 102


@dataclass(frozen=True)
class Refusal:
    """A call the fake refuses: ``code`` and ``message`` of the error envelope."""

    code: int
    message: str


@dataclass(frozen=True)
class SessionView:
    """What the checks need of a session call (the decrypted ``params`` included)."""

    path: str
    method: str
    query: Mapping[str, str]
    user_agent: str
    login_user_agent: str | None
    imei: str | None
    params: Mapping[str, Any]


Check = Callable[[Any, SessionView, Mapping[str, FakeGroup]], str | None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # Thread and message ids travel as strings (zca-js passes the ids it read from events).
    return None if isinstance(value, str) and value else "must be a non-empty string id"


def _int(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    return None if _is_int(value) else "must be a number"


def _str(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _client_id(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # ``Date.now()`` for text, undo, reaction and uploads; its ``toString()`` for photos and
    # the upload's ``clientFileId`` echoed back for files.
    if _is_int(value) or (isinstance(value, str) and value.isdigit()):
        return None
    return "must be a numeric client id"


def _imei(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be the imei string"
    return None if value == view.imei else "is not the imei this session logged in with"


def _json_in_text(value: Any, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    """``value`` parsed when it is JSON text of a ``kind`` (zca-js ``JSON.stringify``-es
    these fields itself); ``None`` otherwise."""
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, kind) else None


def _mentions(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    """``mentionInfo``: JSON ``[{pos, uid, len, type}]`` inside the text, of group members."""
    if value == "" and not view.path.startswith("/api/group/"):
        return None  # sendLink sends ``mentionInfo: ""`` to a user
    items = _json_in_text(value, list)
    if items is None:
        return "must be a JSON list in a string"
    text = view.params.get("message", view.params.get("desc", ""))
    size = utf16_len(text) if isinstance(text, str) else 0
    group = groups.get(str(view.params.get("grid", "")))
    for item in items:
        if not isinstance(item, dict):
            return "entries must be objects"
        pos: Any = item.get("pos")
        length: Any = item.get("len")
        uid: Any = item.get("uid")
        if not (_is_int(pos) and _is_int(length) and isinstance(uid, str) and uid):
            return "entries need pos and len numbers and a uid string"
        if not _is_int(item.get("type")):
            return "entries need a type number"
        if pos < 0 or length <= 0 or pos + length > size:
            return f"mention {pos}+{length} is outside the text ({size} UTF-16 units)"
        # "-1" is @all; any other uid must be in the group (zca-js forwards what it is given).
        if uid != "-1" and (group is None or uid not in group.members):
            return f"mentions {uid}, who is not a member of the group"
    return None


def _entries(
    value: Any, fields: Mapping[str, Check], view: SessionView, groups: Mapping[str, FakeGroup]
) -> str | None:
    """What is wrong with a non-empty list of objects whose ``fields`` are all required."""
    if not isinstance(value, list) or not value:
        return "must be a non-empty list"
    for entry in value:
        if not isinstance(entry, dict):
            return "entries must be objects"
        for name, check in fields.items():
            if name not in entry:
                return f"entries lack {name}"
            problem = check(entry[name], view, groups)
            if problem is not None:
                return f"entry {name} {problem}"
    return None


_RECEIPT_ENTRY: dict[str, Check] = {
    "cmi": _id,
    "gmi": _id,
    "si": _id,
    "di": _id,
    "mt": _str,
    "st": _int,
    "at": _int,
    "cmd": _int,
    "ts": _int,
}


def _msg_infos(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    """``msgInfos`` of delivered/seen: JSON ``{data: [1..50 entries], grid | senderId}``."""
    infos = _json_in_text(value, dict)
    if infos is None:
        return "must be a JSON object in a string"
    entries = infos.get("data")
    if not isinstance(entries, list) or not 1 <= len(entries) <= 50:
        return "data must hold 1 to 50 messages"  # MAX_MESSAGES_PER_SEND
    group = view.path.startswith("/api/group/")
    seen = view.path.endswith("/seenv2")
    if group and _id(infos.get("grid"), view, groups) is not None:
        return "grid must be a non-empty string id"
    if seen and not group and _id(infos.get("senderId"), view, groups) is not None:
        return "senderId must be a non-empty string id"
    if not seen and not _is_int(infos.get("seen")):
        return "seen must be a number"
    problem = _entries(entries, _RECEIPT_ENTRY, view, groups)
    return None if problem is None else f"data {problem}"


_REACTION_REF: dict[str, Check] = {"gMsgID": _int, "cMsgID": _int, "msgType": _int}


def _react_list(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    """``react_list``: ``[{message: JSON {rMsg: [{gMsgID, cMsgID, msgType}], rIcon, rType,
    source}, clientId}]`` (``addReaction.js``: the ids are ``parseInt``-ed numbers)."""
    if not isinstance(value, list) or not value:
        return "must be a non-empty list"
    for item in value:
        if not isinstance(item, dict):
            return "entries must be objects"
        if _client_id(item.get("clientId"), view, groups) is not None:
            return "entries need a numeric clientId"
        body = _json_in_text(item.get("message"), dict)
        if body is None:
            return "entry message must be a JSON object in a string"
        if not isinstance(body.get("rIcon"), str):
            return "rIcon must be a string"
        if not (_is_int(body.get("rType")) and _is_int(body.get("source"))):
            return "rType and source must be numbers"
        problem = _entries(body.get("rMsg"), _REACTION_REF, view, groups)
        if problem is not None:
            return f"rMsg {problem}"
    return None


_DELETED_REF: dict[str, Check] = {
    "cliMsgId": _id,
    "globalMsgId": _id,
    "ownerId": _id,
    "destId": _id,
}


def _deleted(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    """``msgs`` of deleteMessage.js: ``[{cliMsgId, globalMsgId, ownerId, destId}]``."""
    return _entries(value, _DELETED_REF, view, groups)


def _only_me(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # deleteMessage.js refuses to delete for everyone in a private chat before sending.
    if value not in (0, 1) or not _is_int(value):
        return "must be 0 or 1"
    return (
        "must be 1 in a private chat" if value == 0 and view.path == "/api/message/delete" else None
    )


def _json_object(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    return None if _json_in_text(value, dict) is not None else "must be a JSON object in a string"


def _pversions(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # getGroupMembersInfo / getUserInfo: ``"<uid>_<version>"`` strings.
    if isinstance(value, list) and value and all(isinstance(v, str) and "_" in v for v in value):
        return None
    return 'must be a non-empty list of "<uid>_<version>" strings'


def _any(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    return None


def _sticker_type(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # sendSticker.js refuses a sticker whose ``type`` is missing or 0 before sending.
    return None if _is_int(value) and value != 0 else "must be a non-zero number"


def _client_id_text(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    # sendVideo.js: ``String(Date.now())``.
    return None if isinstance(value, str) and value.isdigit() else "must be a numeric string"


_VIDEO_NUMBERS = ("duration", "width", "height", "fileSize")


def _video_info(value: Any, view: SessionView, groups: Mapping[str, FakeGroup]) -> str | None:
    """sendVideo.js ``msgInfo``: JSON ``{videoUrl, thumbUrl?, duration, width, height,
    fileSize, properties{type: 1003}, title}`` (``thumbUrl`` left out when not given)."""
    info = _json_in_text(value, dict)
    if info is None:
        return "must be a JSON object in a string"
    url = info.get("videoUrl")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        return "videoUrl must be an http(s) URL"
    if "thumbUrl" in info and not isinstance(info["thumbUrl"], str):
        return "thumbUrl must be a string"
    if not all(_is_int(info.get(name)) for name in _VIDEO_NUMBERS):
        return "duration, width, height and fileSize must be numbers"
    properties = info.get("properties")
    if not isinstance(properties, dict) or properties.get("type") != 1003:
        return "properties must be an object with type 1003"
    return None if isinstance(info.get("title"), str) else "title must be a string"


_LAYOUT = ("groupLayoutId", "isGroupLayout", "idInGroup", "totalItemInGroup", "extMsgProp")


def _album_layout(params: Mapping[str, Any]) -> str | None:
    """sendMessage.js ``handleAttachment`` with several attachments: each photo carries all
    five group-layout fields, none alone; ``extMsgProp`` names the same ``groupLayoutId``."""
    present = [name for name in _LAYOUT if name in params]
    if not present:
        return None
    if len(present) != len(_LAYOUT):
        return f"album photos need all of {', '.join(_LAYOUT)}"
    layout_id = params["groupLayoutId"]
    if not (isinstance(layout_id, str) and layout_id.isdigit()):
        return "groupLayoutId must be a numeric string"
    total, index = params["totalItemInGroup"], params["idInGroup"]
    if params["isGroupLayout"] != 1 or not (_is_int(total) and _is_int(index)):
        return "isGroupLayout must be 1, idInGroup and totalItemInGroup numbers"
    if not (total >= 2 and 0 <= index < total):
        return f"idInGroup {index} of totalItemInGroup {total} is out of range"
    if params["extMsgProp"] != f'{{"groupMediaMsg":{{"groupLayoutId":"{layout_id}"}}}}':
        return "extMsgProp must name the groupLayoutId"
    return None


Fields = dict[str, Check]

_TO_USER: Fields = {"toid": _id}
_TO_GROUP: Fields = {"grid": _id}
_QUOTE: Fields = {
    "message": _str,
    "clientId": _client_id,
    "qmsgOwner": _id,
    "qmsgId": _any,
    "qmsgCliId": _any,
    "qmsgType": _int,
    "ttl": _int,
}
_UPLOAD: Fields = {
    "totalChunk": _int,
    "fileName": _str,
    "clientId": _client_id,
    "totalSize": _int,
    "imei": _imei,
    "isE2EE": _int,
    "jxl": _int,
    "chunkId": _int,
}
_PHOTO: Fields = {
    "photoId": _any,
    "clientId": _client_id,
    "desc": _str,
    "rawUrl": _str,
    "hdSize": _str,
    "zsource": _int,
    "ttl": _int,
}
_FILE: Fields = {
    "fileId": _any,
    "checksum": _str,
    "totalSize": _int,
    "fileName": _str,
    "clientId": _client_id,
    "fileUrl": _str,
    "ttl": _int,
}
_LINK: Fields = {
    "msg": _str,
    "href": _str,
    "type": _int,
    "ttl": _int,
    "clientId": _client_id,
}
_UNDO: Fields = {"msgId": _id, "clientId": _client_id, "cliMsgIdUndo": _id}
# sendSticker.js: the numbers of a ``sticker_detail`` answer, ``Date.now()``, zsource 101.
_STICKER: Fields = {
    "stickerId": _int,
    "cateId": _int,
    "type": _sticker_type,
    "clientId": _int,
    "imei": _imei,
    "zsource": _int,
}
# sendVideo.js: ``String(Date.now())``, no nretry query.
_VIDEO: Fields = {
    "clientId": _client_id_text,
    "ttl": _int,
    "zsource": _int,
    "msgType": _int,
    "msgInfo": _video_info,
    "imei": _imei,
}

#: path -> (method, fields zca-js always sends, with their check). ``visibility`` on group
#: text sends and undo, ``destType`` on user typing, ``imei`` where the op sends it.
RULES: dict[str, tuple[str, Fields]] = {
    # sendMessage.js (text): user {message, clientId, imei, ttl, toid}, group {message,
    # clientId, ttl, visibility, grid} (+ mentionInfo on /mention).
    "/api/message/sms": (
        "POST",
        {"message": _str, "clientId": _client_id, "imei": _imei, "ttl": _int, **_TO_USER},
    ),
    "/api/group/sendmsg": (
        "POST",
        {"message": _str, "clientId": _client_id, "ttl": _int, "visibility": _int, **_TO_GROUP},
    ),
    "/api/group/mention": (
        "POST",
        {
            "message": _str,
            "clientId": _client_id,
            "mentionInfo": _mentions,
            "ttl": _int,
            "visibility": _int,
            **_TO_GROUP,
        },
    ),
    "/api/message/quote": ("POST", {**_QUOTE, "imei": _imei, **_TO_USER}),
    "/api/group/quote": (
        "POST",
        {**_QUOTE, "visibility": _int, **_TO_GROUP},
    ),
    # sendTypingEvent.js
    "/api/message/typing": ("POST", {"destType": _int, "imei": _imei, **_TO_USER}),
    "/api/group/typing": ("POST", {"imei": _imei, **_TO_GROUP}),
    # addReaction.js
    "/api/message/reaction": ("POST", {"react_list": _react_list, **_TO_USER}),
    "/api/group/reaction": ("POST", {"react_list": _react_list, "imei": _imei, **_TO_GROUP}),
    # sendDeliveredEvent.js / sendSeenEvent.js
    "/api/message/deliveredv2": ("POST", {"msgInfos": _msg_infos}),
    "/api/group/deliveredv2": ("POST", {"msgInfos": _msg_infos, "imei": _imei}),
    "/api/message/seenv2": ("POST", {"msgInfos": _msg_infos}),
    "/api/group/seenv2": ("POST", {"msgInfos": _msg_infos, "imei": _imei}),
    # undo.js
    "/api/message/undo": ("POST", {**_UNDO, **_TO_USER}),
    "/api/group/undomsg": ("POST", {**_UNDO, "visibility": _int, "imei": _imei, **_TO_GROUP}),
    # deleteMessage.js
    "/api/message/delete": (
        "POST",
        {**_TO_USER, "cliMsgId": _client_id, "msgs": _deleted, "onlyMe": _only_me, "imei": _imei},
    ),
    "/api/group/deletemsg": (
        "POST",
        {**_TO_GROUP, "cliMsgId": _client_id, "msgs": _deleted, "onlyMe": _only_me},
    ),
    # parseLink.js / sendLink.js (a user is ``toId`` there, with ``mentionInfo: ""``)
    "/api/message/parselink": ("GET", {"link": _str, "version": _int, "imei": _imei}),
    "/api/message/link": ("POST", {**_LINK, "toId": _id, "mentionInfo": _mentions}),
    "/api/group/sendlink": ("POST", {**_LINK, "imei": _imei, **_TO_GROUP}),
    # uploadAttachment.js (params in the query of a multipart POST)
    "/api/message/photo_original/upload": ("POST", {**_UPLOAD, **_TO_USER}),
    "/api/group/photo_original/upload": ("POST", {**_UPLOAD, **_TO_GROUP}),
    "/api/message/asyncfile/upload": ("POST", {**_UPLOAD, **_TO_USER}),
    "/api/group/asyncfile/upload": ("POST", {**_UPLOAD, **_TO_GROUP}),
    # sendMessage.js (attachments)
    "/api/message/photo_original/send": ("POST", {**_PHOTO, "normalUrl": _str, **_TO_USER}),
    "/api/group/photo_original/send": ("POST", {**_PHOTO, "oriUrl": _str, **_TO_GROUP}),
    "/api/message/asyncfile/msg": ("POST", {**_FILE, **_TO_USER}),
    "/api/group/asyncfile/msg": ("POST", {**_FILE, **_TO_GROUP}),
    # getStickers.js (GET, sticker host), getStickersDetail.js (GET, one call per id)
    "/api/message/sticker/suggest/stickers": (
        "GET",
        {"keyword": _str, "gif": _int, "guggy": _int, "imei": _imei},
    ),
    "/api/message/sticker/sticker_detail": ("GET", {"sid": _int}),
    # sendSticker.js (toid to a user, grid to a group)
    "/api/message/sticker": ("POST", {**_STICKER, **_TO_USER}),
    "/api/group/sticker": ("POST", {**_STICKER, **_TO_GROUP}),
    # sendVideo.js (a user is ``toId`` there; a group adds ``visibility: 0``)
    "/api/message/forward": ("POST", {**_VIDEO, "toId": _id}),
    "/api/group/forward": ("POST", {**_VIDEO, "visibility": _int, **_TO_GROUP}),
    # getAllFriends.js, getAllGroups.js, getGroupInfo.js, getGroupMembersInfo.js,
    # getUserInfo.js, findUser.js, fetchAccountInfo.js, keepAlive.js
    "/api/social/friend/getfriends": (
        "GET",
        {
            "incInvalid": _int,
            "page": _int,
            "count": _int,
            "avatar_size": _int,
            "actiontime": _int,
            "imei": _imei,
        },
    ),
    "/api/group/getlg/v4": ("GET", {}),
    "/api/group/getmg-v2": ("POST", {"gridVerMap": _json_object}),
    "/api/social/group/members": ("GET", {"friend_pversion_map": _pversions}),
    "/api/social/friend/getprofiles/v2": (
        "POST",
        {
            "phonebook_version": _int,
            "friend_pversion_map": _pversions,
            "avatar_size": _int,
            "language": _str,
            "show_online_status": _int,
            "imei": _imei,
        },
    ),
    "/api/friend/profile/get": (
        "GET",
        {"phone": _str, "avatar_size": _int, "language": _str, "imei": _imei, "reqSrc": _int},
    ),
    "/api/social/profile/me-v2": ("GET", {}),
    # acceptFriendRequest.js
    "/api/friend/accept": ("POST", {"fid": _id, "language": _str}),
    "/keepalive": ("GET", {"imei": _imei}),
}

# The ``type`` query of an upload (uploadAttachment.js: "2" to a user, "11" to a group).
_UPLOAD_TYPE = {"message": "2", "group": "11"}


def refusal(view: SessionView, groups: Mapping[str, FakeGroup]) -> Refusal | None:
    """Why the fake refuses this session call, or ``None`` when zca-js could have sent it."""
    # getDefaultHeaders: every call carries the User-Agent the imei was derived from.
    if view.login_user_agent is not None and view.user_agent != view.login_user_agent:
        return Refusal(ERR_SESSION, "User-Agent differs from the one that logged in")
    # makeURL adds zpw_ver and zpw_type to every session URL.
    for name in ("zpw_ver", "zpw_type"):
        if not view.query.get(name, "").isdigit():
            return Refusal(ERR_BAD_PARAMS, f"missing or non-numeric {name} query parameter")
    rule = RULES.get(view.path)
    if rule is None:
        return None
    method, fields = rule
    if view.method != method:
        return Refusal(ERR_BAD_PARAMS, f"{view.path} must be a {method}")
    if view.path.endswith("/upload"):
        scope = view.path.split("/")[2]
        if view.query.get("type") != _UPLOAD_TYPE[scope]:
            return Refusal(ERR_BAD_PARAMS, f"upload type must be {_UPLOAD_TYPE[scope]}")
    for name, check in fields.items():
        if name not in view.params:
            return Refusal(ERR_BAD_PARAMS, f"missing {name}")
        problem = check(view.params[name], view, groups)
        if problem is not None:
            return Refusal(ERR_BAD_PARAMS, f"{name} {problem}")
    if view.path.endswith("/photo_original/send"):
        problem = _album_layout(view.params)
        if problem is not None:
            return Refusal(ERR_BAD_PARAMS, problem)
    if view.path.endswith("/sticker") and view.query.get("nretry") != "0":
        return Refusal(ERR_BAD_PARAMS, "sticker sends carry the nretry=0 query")
    mentions = view.params.get("mentionInfo")
    if "mentionInfo" not in fields and mentions is not None and view.path.startswith("/api/group/"):
        problem = _mentions(mentions, view, groups)
        if problem is not None:
            return Refusal(ERR_BAD_PARAMS, f"mentionInfo {problem}")
    return None


def query_fields(query: bytes) -> dict[str, str]:
    """The short query fields (``params``, long and unused here, is left out, undecoded)."""
    out: dict[str, str] = {}
    for pair in query.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name and name != "params":
            out.setdefault(name, value)
    return out


# listen.js ``requestOldMessages`` / ``requestOldReactions``: frame v1, cmd 510|511 (old
# messages of DMs | groups) or 610|611 (old reactions), sub 1; body ``{first: true, lastId:
# lastMsgId ?? null, preIds: []}`` to which ``sendWs`` adds ``req_id: "req_<n>"``.
_HISTORY_KEYS = frozenset({"first", "lastId", "preIds", "req_id"})
WS_HISTORY_CMDS = frozenset({510, 511, 610, 611})


def ws_refusal(version: int, cmd: int, sub_cmd: int, body: Any) -> str | None:
    """Why the fake ignores this websocket request, or None when zca-js could have sent it."""
    if cmd not in WS_HISTORY_CMDS:
        return None
    if version != 1 or sub_cmd != 1:
        return f"cmd {cmd} must be version 1, sub 1"
    if not isinstance(body, dict) or set(body) != _HISTORY_KEYS:
        return f"cmd {cmd} body must hold exactly first, lastId, preIds and req_id"
    if body["first"] is not True:
        return f"cmd {cmd} first must be true"
    last_id = body["lastId"]
    if last_id is not None and not (isinstance(last_id, str) and last_id):
        return f"cmd {cmd} lastId must be null or a message id string"
    if body["preIds"] != []:
        return f"cmd {cmd} preIds must be an empty list"
    req_id = body["req_id"]
    if not (isinstance(req_id, str) and req_id.startswith("req_") and req_id[4:].isdigit()):
        return f'cmd {cmd} req_id must be "req_<n>"'
    return None
