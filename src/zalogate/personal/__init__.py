"""``zalogate.personal``: a native asyncio client for personal Zalo accounts.

Standalone (no gateway imports): ``from zalogate.personal import ZaloPersonal``. See
``docs/personal-protocol.md``.
"""

from zalogate.personal.api import (
    REACTIONS,
    CustomReaction,
    GroupInfo,
    GroupMember,
    Mention,
    MessageRef,
    PersonalApi,
    Quote,
    SentMessage,
    Style,
    TextStyle,
    Urgency,
    UserProfile,
)
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
    RequestTimeoutError,
    SessionExpiredError,
    TransportError,
    ZaloPersonalError,
)
from zalogate.personal.http import PersonalHttp
from zalogate.personal.login import (
    LoggedIn,
    QrDeclined,
    QrEvent,
    QrExpired,
    QrGenerated,
    QrScanned,
)
from zalogate.personal.session import Credentials, Endpoints, Session, ThreadType

__all__ = [
    "REACTIONS",
    "ApiError",
    "ConfigurationError",
    "CookieJar",
    "Credentials",
    "CryptoError",
    "CustomReaction",
    "Endpoints",
    "FileDoneTimeoutError",
    "GroupInfo",
    "GroupMember",
    "HttpStatusError",
    "ListenerError",
    "LoggedIn",
    "LoginError",
    "Mention",
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
    "RequestTimeoutError",
    "SentMessage",
    "Session",
    "SessionExpiredError",
    "Style",
    "TextStyle",
    "ThreadType",
    "TransportError",
    "Urgency",
    "UserProfile",
    "ZaloPersonal",
    "ZaloPersonalError",
    "load_credentials",
    "save_credentials",
]
