"""The public surface of zalogate.botapi is exactly what we mean it to be."""

from __future__ import annotations

import ast
from pathlib import Path

import zalogate.botapi
from zalogate.botapi import errors

EXPECTED = {
    # client
    "ZaloBot",
    "check_response",
    "resolve_base_url",
    "truncate_utf16",
    "CAPTION_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "POLL_GRACE",
    "SEND_PHOTO_TIMEOUT",
    # models
    "BotInfo",
    "Chat",
    "ChatType",
    "EventName",
    "Message",
    "SentMessage",
    "Update",
    "User",
    "WebhookInfo",
    "to_epoch_ms",
    # redaction
    "mask_token",
    "redact",
    # urlguard
    "UrlGuard",
    "UnsafeUrlError",
    # errors
    "ZaloBotError",
    "ConfigurationError",
    "InvalidRequestError",
    "TransportError",
    "RequestTimeoutError",
    "NetworkError",
    "MalformedResponseError",
    "ApiError",
    "BadRequestError",
    "UnauthorizedError",
    "NotFoundError",
    "ApiTimeoutError",
    "ConflictError",
    "RateLimitedError",
    "ServerError",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(zalogate.botapi.__all__) == EXPECTED
    assert len(zalogate.botapi.__all__) == len(EXPECTED)


def test_every_exported_name_exists_and_classes_say_they_belong_here() -> None:
    for name in zalogate.botapi.__all__:
        member = getattr(zalogate.botapi, name)
        module = getattr(member, "__module__", None)
        if isinstance(member, type):
            assert module is not None
            assert module.startswith("zalogate.botapi"), name


def test_every_error_class_is_exported_and_a_zalobot_error() -> None:
    error_classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert error_classes <= set(zalogate.botapi.__all__)
    for name in error_classes:
        assert issubclass(getattr(errors, name), errors.ZaloBotError)


_LEAVES = ("zalogate.transport", "zalogate.text")


def test_botapi_imports_nothing_else_from_zalogate() -> None:
    """Standalone: its own package and the leaves ``zalogate.transport`` and ``zalogate.text``."""
    package_dir = Path(zalogate.botapi.__file__).parent
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("zalogate"):
                    allowed = name.startswith("zalogate.botapi") or name in _LEAVES
                    assert allowed, f"{path.name} imports {name}"
