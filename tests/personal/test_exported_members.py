"""The public surface of zalogate.personal is exactly what we mean it to be."""

from __future__ import annotations

import ast
from pathlib import Path

import zalogate.personal as personal

EXPECTED = {
    "Delivered",
    "Event",
    "FileDone",
    "FriendEvent",
    "GroupEvent",
    "GroupMessage",
    "Message",
    "Reaction",
    "Seen",
    "Typing",
    "Undo",
    "UnknownEvent",
    "UserMessage",
    "CloseReason",
    "Connected",
    "Disconnected",
    "Listener",
    "ListenerClosedError",
    "ListenerEvent",
    "ListenerReplacedError",
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
}
FORBIDDEN = (
    "zalogate.core",
    "zalogate.channels",
    "zalogate.runtime",
    "zalogate.config",
    "zalogate.testing",
)


def test_all_lists_the_public_names() -> None:
    assert set(personal.__all__) >= EXPECTED
    for name in personal.__all__:
        assert hasattr(personal, name), name


def test_error_classes_share_one_base() -> None:
    for name in personal.__all__:
        obj = getattr(personal, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, personal.ZaloPersonalError), name


def test_package_is_standalone() -> None:
    root = Path(personal.__file__).parent
    for source in root.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{source.name} imports {name}"
