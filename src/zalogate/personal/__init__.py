"""``zalogate.personal``: a native asyncio client for personal Zalo accounts.

Standalone (no gateway imports): ``from zalogate.personal import ZaloPersonal``. See
``docs/personal-protocol.md``.
"""

from zalogate.personal.api import PersonalApi
from zalogate.personal.client import ZaloPersonal, load_credentials, save_credentials
from zalogate.personal.cookies import CookieJar
from zalogate.personal.errors import (
    ApiError,
    ConfigurationError,
    CryptoError,
    FileDoneTimeoutError,
    HttpStatusError,
    ListenerError,
    LoginError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    QrDeclinedError,
    QrExpiredError,
    RateLimitedError,
    RequestTimeoutError,
    SessionExpiredError,
    TransportError,
    ZaloPersonalError,
)
from zalogate.personal.events import (
    Delivered,
    Event,
    FileDone,
    FriendEvent,
    GroupEvent,
    GroupMessage,
    Message,
    Reaction,
    Seen,
    Typing,
    Undo,
    UnknownEvent,
    UserMessage,
)
from zalogate.personal.http import PersonalHttp
from zalogate.personal.listener import Listener
from zalogate.personal.listener_lifecycle import (
    CloseReason,
    Connected,
    Disconnected,
    ListenerClosedError,
    ListenerEvent,
    ListenerReplacedError,
)
from zalogate.personal.login import (
    LoggedIn,
    QrDeclined,
    QrEvent,
    QrExpired,
    QrGenerated,
    QrScanned,
)
from zalogate.personal.outgoing import MessageRef, Quote, SentMessage, Urgency
from zalogate.personal.profiles import GroupInfo, GroupMember, UserProfile
from zalogate.personal.reactions import REACTIONS, CustomReaction
from zalogate.personal.session import Credentials, Endpoints, Session, ThreadType
from zalogate.personal.spans import Mention, Style, TextStyle

__all__ = [
    "REACTIONS",
    "ApiError",
    "CloseReason",
    "ConfigurationError",
    "Connected",
    "CookieJar",
    "Credentials",
    "CryptoError",
    "CustomReaction",
    "Delivered",
    "Disconnected",
    "Endpoints",
    "Event",
    "FileDone",
    "FileDoneTimeoutError",
    "FriendEvent",
    "GroupEvent",
    "GroupInfo",
    "GroupMember",
    "GroupMessage",
    "HttpStatusError",
    "Listener",
    "ListenerClosedError",
    "ListenerError",
    "ListenerEvent",
    "ListenerReplacedError",
    "LoggedIn",
    "LoginError",
    "Mention",
    "Message",
    "MessageRef",
    "NetworkError",
    "NotFoundError",
    "PersonalApi",
    "PersonalHttp",
    "ProtocolError",
    "QrDeclined",
    "QrDeclinedError",
    "QrEvent",
    "QrExpired",
    "QrExpiredError",
    "QrGenerated",
    "QrScanned",
    "Quote",
    "RateLimitedError",
    "Reaction",
    "RequestTimeoutError",
    "Seen",
    "SentMessage",
    "Session",
    "SessionExpiredError",
    "Style",
    "TextStyle",
    "ThreadType",
    "TransportError",
    "Typing",
    "Undo",
    "UnknownEvent",
    "Urgency",
    "UserMessage",
    "UserProfile",
    "ZaloPersonal",
    "ZaloPersonalError",
    "load_credentials",
    "save_credentials",
]
