"""`message send` and `directory` with only ``ZALO_BOT_TOKEN`` (no ``channels.zalo`` section):
the implicit ``default`` account (zalo-bot-api.md §5.2) reaches the fake Bot API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zalogate.testing import FakeZaloBotApi

from .conftest import cli, run_cli


@pytest.fixture
def env_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeZaloBotApi, state_dir: Path
) -> Path:
    """A config without ``channels.zalo``; the token and the fake's URL come from the env."""
    path = tmp_path / "zalogate.json5"
    path.write_text("{ channels: { defaults: { groupPolicy: 'open' } } }", encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    monkeypatch.setenv("ZALO_BOT_TOKEN", fake.token)
    monkeypatch.setenv("ZALO_API_URL", fake.base_url)
    return path


async def test_message_send_uses_the_env_token(
    fake: FakeZaloBotApi, env_only: Path, capsys: Any
) -> None:
    assert await cli("message", "send", "--channel", "zalo", "-t", "u42", "-m", "từ env") == 0
    [sent] = fake.sent
    assert (sent.method, sent.chat_id, sent.text) == ("sendMessage", "u42", "từ env")
    out = capsys.readouterr().out
    assert "zalo/default" in out
    assert fake.token.split(":", 1)[1] not in out
    # Without --channel the env-only zalo channel is the one configured channel.
    assert await cli("message", "send", "-t", "u43", "-m", "again", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["channel"], body["accountId"]) == ("zalo", "default")


async def test_a_named_account_is_not_configured_by_the_env_token(
    fake: FakeZaloBotApi, env_only: Path, capsys: Any
) -> None:
    code = await cli(
        "message", "send", "--channel", "zalo", "--account", "work", "-t", "u", "-m", "x"
    )
    assert code != 0
    assert "unknown zalo account 'work' (configured: default)" in capsys.readouterr().err
    assert fake.sent == []


async def test_directory_self_uses_the_env_token(
    fake: FakeZaloBotApi, env_only: Path, capsys: Any
) -> None:
    assert await cli("directory", "self", "--channel", "zalo", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["id"], body["accountId"]) == (fake.bot.id, "default")
    assert await cli("directory", "peers", "list", "--channel", "zalo", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


async def test_without_the_env_token_nothing_is_configured(
    fake: FakeZaloBotApi, env_only: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("ZALO_BOT_TOKEN")
    assert await cli("message", "send", "--channel", "zalo", "-t", "u1", "-m", "x") != 0
    err = capsys.readouterr().err
    assert "no zalo account is configured" in err
    assert "ZALO_BOT_TOKEN" in err
    assert fake.sent == []


def test_doctor_does_not_call_env_only_groups_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path, capsys: Any
) -> None:
    path = tmp_path / "zalogate.json5"
    path.write_text(
        '{ agent: { type: "command", command: { argv: ["cat"] } },'
        " channels: { defaults: { groupPolicy: 'open' } } }",
        encoding="utf-8",
    )
    path.chmod(0o600)
    monkeypatch.setenv("ZALO_BOT_TOKEN", "5:doctorenvsecret")
    assert run_cli(["doctor", "--json", "--config", str(path)]) == 0
    raw = capsys.readouterr().out
    assert "doctorenvsecret" not in raw
    checks = json.loads(raw)["checks"]
    zalo = [c for c in checks if c["check"] == "zalo/default"]
    assert [c["level"] for c in zalo] == ["ok"]
    assert "group messages are dropped" in zalo[0]["message"]
    assert not any("OPEN" in c["message"] for c in checks)
