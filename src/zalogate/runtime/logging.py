"""Logging for the gateway: configured once, written to a private file, secrets redacted.

Every handler the runtime installs carries a :class:`RedactingFilter`, which rewrites each
record before any formatter sees it: the message with its ``%`` arguments, the exception
traceback (``exc_info``) and ``stack_info``. What is removed:

* Bot API tokens (``<digits>:<secret>``), also inside ``/bot<token>/method`` URL paths;
* ``Cookie:`` / ``Set-Cookie:`` / ``Authorization:`` / ``X-Bot-Api-Secret-Token:`` values;
* session cookies and keys written as ``name=value`` or as JSON/dict items
  (``zpw_sek``, ``zpsid``, ``zpw_enk``, ``__zi``, ``secret_token``, ``password``, ...);
* every string registered with :func:`register_secret` (the gateway registers each configured
  token and webhook secret, so a secret is removed even where no pattern would spot it).

:func:`redact` is the same rewrite for any string (error messages, status output).
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from zalogate.store.paths import ensure_private_dir, touch_private_file

__all__ = [
    "LOG_FILENAME",
    "REDACTED",
    "RedactingFilter",
    "clear_registered_secrets",
    "configure_logging",
    "gateway_log_path",
    "redact",
    "register_secret",
    "reset_logging",
]

REDACTED = "[redacted]"
LOG_FILENAME = "gateway.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MAX_LOG_BYTES = 5 * 1024 * 1024
_LOG_BACKUPS = 5
_MIN_SECRET_LENGTH = 4
# Third-party loggers that print request URLs (which hold the Bot API token) at INFO.
# "uvicorn.error" logs "Started server process" at INFO: alarming in a log, and said by
# the gateway's own "HTTP server listening on ..." line.
_CHATTY_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "websockets",
    "openai",
    "uvicorn",
    "uvicorn.error",
)

# Header names whose whole value is secret.
_REDACT_HEADERS = r"set-cookie|cookie|authorization|proxy-authorization|x-bot-api-secret-token"
# Keys (cookie names, query parameters, JSON fields) whose value is secret.
_REDACT_KEYS = (
    r"zpw_sek|zpw_enk|zpsid|__zi(?:[\w-]*)|secret_?key|secret_?token|secret|"
    r"webhook_?secret|bot_?token|access_?token|refresh_?token|token|api_?key|password|"
    r"cookie|x-bot-api-secret-token"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # The Bot API puts the token in the URL path: /bot<token>/getMe.
    (re.compile(r"/bot[^/\s\"'?#]*(?::|%3[aA])[^/\s\"'?#]*"), "/bot" + REDACTED),
    # "Cookie: a=b; c=d" (an HTTP header line): the rest of the line is secret.
    (
        re.compile(rf"(?im)(?<![\w'\"-])({_REDACT_HEADERS})(\s*:[ \t]*)[^\r\n]+"),
        rf"\1\2{REDACTED}",
    ),
    # {"zpw_enk": "..."} / {'Cookie': '...'}: JSON or a Python repr of a mapping.
    (
        re.compile(
            rf"(?i)(?<![\w-])(['\"])({_REDACT_KEYS}|{_REDACT_HEADERS})\1(\s*:\s*)"
            r"(['\"])(?:\\.|(?!\4).)*\4"
        ),
        rf"\1\2\1\3\4{REDACTED}\4",
    ),
    # zpw_sek=...; token=... (cookie strings, query strings, keyword reprs).
    (
        re.compile(
            rf"(?i)(?<![\w-])({_REDACT_KEYS})(\s*=\s*)"
            r"(?:'[^']*'|\"[^\"]*\"|[^\s;&,)\]}'\"]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
    # A bare Bot API token: numeric bot id, a colon, the secret part.
    (re.compile(r"(?<![\w.])\d{4,}:[A-Za-z0-9_-]{6,}(?![\w-])"), REDACTED),
)


@dataclass(slots=True)
class _SecretRegistry:
    values: set[str] = field(default_factory=set)
    pattern: re.Pattern[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_secrets = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Redact ``value`` (and its URL-encoded form) from every log record from now on.

    Values shorter than 4 characters are ignored: redacting them would mangle ordinary text.
    """
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets.lock:
        forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
        if forms <= _secrets.values:
            return
        _secrets.values |= forms
        ordered = sorted(_secrets.values, key=len, reverse=True)
        _secrets.pattern = re.compile("|".join(re.escape(v) for v in ordered))


def clear_registered_secrets() -> None:
    """Forget every registered secret (tests, and a gateway that reloads its config)."""
    with _secrets.lock:
        _secrets.values.clear()
        _secrets.pattern = None


def redact(text: str) -> str:
    """Return ``text`` with tokens, cookies, session keys and registered secrets replaced."""
    pattern = _secrets.pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the message, its arguments and any traceback.

    The record is rewritten in place (message formatted with its arguments, ``args`` cleared,
    ``exc_info`` replaced by the redacted ``exc_text``), so every handler after this one sees
    the clean record too. It never drops a record.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place and keep it."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record (nor its secrets)
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files are created with mode 0600 (also after rotation)."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed's return type is private
        touch_private_file(Path(self.baseFilename))
        return super()._open()


@dataclass(slots=True)
class _LoggingState:
    handlers: list[logging.Handler] = field(default_factory=list)
    filtered: list[logging.Handler] = field(default_factory=list)
    saved_levels: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _LoggingState()
_filter = RedactingFilter()


def gateway_log_path(state_dir: Path) -> Path:
    """Where the gateway writes its log inside ``state_dir``."""
    return state_dir / "logs" / LOG_FILENAME


def configure_logging(
    level: int | str = logging.INFO,
    *,
    log_file: Path | None = None,
    console: bool = True,
) -> None:
    """Install the runtime's redacting handlers on the root logger.

    Idempotent: a second call replaces the handlers of the first one instead of adding more.
    Handlers installed by somebody else (``logging.basicConfig``, pytest) are kept but get
    the redaction filter as well, and no second console handler is added next to one that
    already writes to stderr/stdout.

    Args:
        level: The root level (``"info"``, ``"DEBUG"``, ``logging.WARNING``, ...).
        log_file: A file to append to (created 0600, its folder 0700; rotated at 5 MiB).
        console: Also log to stderr.
    """
    numeric = _level_number(level)
    formatter = logging.Formatter(LOG_FORMAT)
    root = logging.getLogger()
    with _state.lock:
        _remove_our_handlers(root)
        foreign = list(root.handlers)
        new: list[logging.Handler] = []
        if log_file is not None:
            ensure_private_dir(log_file.parent)
            file_handler = _PrivateRotatingFileHandler(
                log_file, maxBytes=_MAX_LOG_BYTES, backupCount=_LOG_BACKUPS, encoding="utf-8"
            )
            new.append(file_handler)
        if console and not any(_writes_to_terminal(h) for h in foreign):
            new.append(logging.StreamHandler(sys.stderr))
        for handler in new:
            handler.setFormatter(formatter)
            handler.addFilter(_filter)
            root.addHandler(handler)
        for handler in foreign:
            if _filter not in handler.filters:
                handler.addFilter(_filter)
                _state.filtered.append(handler)
        _state.handlers = new
        root.setLevel(numeric)
        quiet = logging.WARNING if numeric > logging.DEBUG else logging.DEBUG
        for name in _CHATTY_LOGGERS:
            chatty = logging.getLogger(name)
            _state.saved_levels.setdefault(name, chatty.level)
            chatty.setLevel(quiet)


def reset_logging() -> None:
    """Remove what :func:`configure_logging` installed (closing the log file)."""
    root = logging.getLogger()
    with _state.lock:
        _remove_our_handlers(root)
        for name, saved in _state.saved_levels.items():
            logging.getLogger(name).setLevel(saved)
        _state.saved_levels.clear()


def _remove_our_handlers(root: logging.Logger) -> None:
    for handler in _state.handlers:
        root.removeHandler(handler)
        handler.close()
    _state.handlers = []
    for handler in _state.filtered:
        handler.removeFilter(_filter)
    _state.filtered = []


def _writes_to_terminal(handler: logging.Handler) -> bool:
    if isinstance(handler, logging.FileHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    stream = handler.stream
    return stream is sys.stderr or stream is sys.stdout


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name == "WARN":
        name = "WARNING"
    number = logging.getLevelNamesMapping().get(name)
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number
