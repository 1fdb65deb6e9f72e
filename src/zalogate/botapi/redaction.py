"""Keeping the bot token out of text: masks, and a log filter for httpx2's request lines.

The token sits in every request URL (``/bot<TOKEN>/<method>``), so any text that may contain a
URL is passed through here before it reaches an exception or a log record.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "install_httpx_log_filter", "install_log_filter", "mask_token", "redact"]

REDACTED = "***"

# ``/bot<anything up to the next slash>/``: the only place a token appears in a Bot API URL.
_URL_TOKEN = re.compile(r"/bot[^/\s\"']+/")


def mask_token(token: str) -> str:
    """A printable stand-in for a token: the public numeric bot id, secret part hidden."""
    bot_id, sep, _secret = token.partition(":")
    if sep and bot_id.isdigit():
        return f"{bot_id}:{REDACTED}"
    return REDACTED


def redact(text: str, token: str | None = None) -> str:
    """``text`` with ``token`` and any ``/bot<token>/`` URL segment replaced by a mask."""
    if token:
        text = text.replace(token, mask_token(token))
    return _URL_TOKEN.sub(f"/bot{REDACTED}/", text)


class _UrlTokenFilter(logging.Filter):
    """Rewrites records whose text holds a Bot API URL (httpx2 logs every request URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg = redact(message)
            record.args = None
        return True


_FILTER = _UrlTokenFilter()


def install_log_filter(name: str) -> None:
    """Make logger ``name`` mask ``/bot<token>/`` URL segments in its records; idempotent."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def install_httpx_log_filter() -> None:
    """Make the ``httpx2`` logger (``HTTP Request: POST <url>``) mask tokens; idempotent."""
    for name in ("httpx2", "httpx"):
        install_log_filter(name)
