"""Runtime logging: secrets never reach a handler, the log file is private and rotates."""

from __future__ import annotations

import io
import logging
import os
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zalogate.runtime.logging import (
    REDACTED,
    RedactingFilter,
    clear_registered_secrets,
    configure_logging,
    gateway_log_path,
    redact,
    register_secret,
    reset_logging,
)

TOKEN = "1234567890123456789:AbCdEfGhIjKlMnOpQrStUv-_wxyz"
ENK = "h5Xq9bS0mQvZ1nR3kT8wYp=="
SEK = "zs3k.9f8e7d6c5b4a3210"


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


def captured_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger with one handler that carries the redacting filter, writing into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(f"test.redaction.{name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, buffer


def test_token_cookie_and_bot_url_are_redacted_in_message_and_traceback() -> None:
    logger, buffer = captured_logger("traceback")
    url = f"https://bot-api.zaloplatforms.com/bot{TOKEN}/getMe"
    cookie_header = f"Cookie: zpw_sek={SEK}; zpsid=abcdef123456"
    try:
        raise RuntimeError(f"POST {url} failed; token={TOKEN}\n{cookie_header}")
    except RuntimeError:
        logger.exception("call failed for %s with %s", url, cookie_header)

    output = buffer.getvalue()
    assert "Traceback" in output
    assert "RuntimeError" in output
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output
    assert SEK not in output
    assert "abcdef123456" not in output
    assert f"/bot{REDACTED}/getMe" in output
    assert f"Cookie: {REDACTED}" in output


def test_secrets_passed_as_percent_args_are_redacted() -> None:
    logger, buffer = captured_logger("args")
    logger.warning("token %s session %s", TOKEN, {"zpw_enk": ENK, "uid": "42"})
    output = buffer.getvalue()
    assert TOKEN not in output
    assert ENK not in output
    assert "'uid': '42'" in output


def test_registered_secret_is_redacted_even_without_a_pattern() -> None:
    logger, buffer = captured_logger("registered")
    webhook_secret = "plain words/no+pattern@here"
    register_secret(webhook_secret)
    logger.info("verifying with %s", webhook_secret)
    logger.info("as a query value %s", urllib.parse.quote(webhook_secret, safe=""))
    output = buffer.getvalue()
    assert "plain words" not in output
    assert "plain%20words" not in output
    assert output.count(REDACTED) == 2


def log_with_stack(logger: logging.Logger, detail: str) -> None:
    logger.info("with stack %s", detail, stack_info=True)


def test_stack_info_is_redacted() -> None:
    logger, buffer = captured_logger("stack")
    register_secret("stack-secret-value")
    log_with_stack(logger, "stack-secret-value")  # this source line shows up in the stack
    output = buffer.getvalue()
    assert "Stack (most recent call last)" in output
    assert "log_with_stack(logger" in output
    assert "stack-secret-value" not in output


@pytest.mark.parametrize(
    "text",
    [
        f'{{"zpw_enk": "{ENK}", "uid": "1"}}',
        f"{{'zpw_enk': '{ENK}'}}",
        f"Credentials(zpw_enk='{ENK}')",
        f"zpw_enk={ENK}",
        f"Set-Cookie: zpw_sek={ENK}; Path=/; HttpOnly",
        f"X-Bot-Api-Secret-Token: {ENK}",
        f"{{'x-bot-api-secret-token': '{ENK}'}}",
        f"https://example.test/hook?secret_token={ENK}&x=1",
        f'{{"webhookSecret": "{ENK}"}}',
    ],
)
def test_session_keys_headers_and_secret_fields_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert ENK not in cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "listening on 127.0.0.1:18789",
        "2026-11-23 00:05:56,123 INFO started",
        "conversation zalo:default:direct:1234567890",
        '{"tokenSource": "env", "uid": "42"}',
        "received 3 updates",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@given(
    bot_id=st.integers(min_value=1000, max_value=10**20),
    secret=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        min_size=6,
        max_size=64,
    ),
    prefix=st.sampled_from(["", "token ", "url=https://h/bot", "(", "'", " -> "]),
)
def test_any_bot_token_is_redacted(bot_id: int, secret: str, prefix: str) -> None:
    token = f"{bot_id}:{secret}"
    assert token not in redact(f"{prefix}{token}/getUpdates failed")


def test_log_file_is_private_and_receives_redacted_records(tmp_path: Path) -> None:
    log_file = gateway_log_path(tmp_path / "state")
    configure_logging("info", log_file=log_file, console=False)
    configure_logging("info", log_file=log_file, console=False)  # idempotent: no duplicates
    logging.getLogger("zalogate.test").info("polling with %s", TOKEN)
    for handler in logging.getLogger().handlers:
        handler.flush()

    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log_file.parent).st_mode) == 0o700
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert TOKEN not in lines[0]
    assert "polling with" in lines[0]


def test_rotated_log_file_is_private_too(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "gateway.log"
    configure_logging("info", log_file=log_file, console=False)
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == log_file
    )
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    handler.doRollover()
    logging.getLogger("zalogate.test").warning("after rollover")
    handler.flush()
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert "after rollover" in log_file.read_text(encoding="utf-8")


def test_reset_closes_the_log_file_and_removes_handlers(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "gateway.log"
    before = list(logging.getLogger().handlers)
    configure_logging(logging.DEBUG, log_file=log_file, console=True)
    reset_logging()
    assert logging.getLogger().handlers == before
    for handler in before:
        assert not any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_unknown_level_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty", console=False)


def test_uvicorn_start_up_info_stays_out_of_the_log(tmp_path: Path) -> None:
    """uvicorn's "Started server process" (logger uvicorn.error, INFO) alarms people."""
    configure_logging("info", log_file=tmp_path / "gateway.log", console=False)
    try:
        uvicorn_error = logging.getLogger("uvicorn.error")
        assert not uvicorn_error.isEnabledFor(logging.INFO)
        assert uvicorn_error.isEnabledFor(logging.WARNING)
    finally:
        reset_logging()
