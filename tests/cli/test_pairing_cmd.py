"""`zalogate pairing list|approve` (gateway-behaviour §1.5)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from zalogate.cli import pairing as pairing_cli
from zalogate.cli.state import CliState
from zalogate.core.pairing import PairingNotifier, SqlitePairingStore
from zalogate.store import Store

from .conftest import run_cli


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setattr(pairing_cli, "_state_dir", lambda state: path)
    return path


def seed(state_dir: Path, channel: str, account: str, sender: str, name: str | None = None) -> str:
    async def run() -> str:
        async with await Store.open(state_dir) as store:
            result = await SqlitePairingStore(store).request(
                channel, account, sender, sender_name=name
            )
            assert result.code is not None
            return result.code

    return asyncio.run(run())


def allowed(state_dir: Path, channel: str, account: str) -> frozenset[str]:
    async def run() -> frozenset[str]:
        async with await Store.open(state_dir) as store:
            return await SqlitePairingStore(store).allowed_senders(channel, account)

    return asyncio.run(run())


def test_list_with_no_requests_names_the_channel(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway §1.5: ``No pending <channel> pairing requests.``"""
    assert run_cli(["pairing", "list", "zalouser"]) == 0
    assert "No pending zalouser pairing requests." in capsys.readouterr().out


def test_list_shows_a_table_with_code_and_id_label(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway §1.5: heading ``Pairing requests (N)``; id label ``zalouserUserId``."""
    code = seed(state_dir, "zalouser", "default", "1234", "Alice")
    assert run_cli(["pairing", "list", "zalouser"]) == 0
    out = capsys.readouterr().out
    assert "Pairing requests (1)" in out
    assert "zalouserUserId" in out
    assert code in out
    assert "1234" in out


def test_list_json_shape(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """gateway §1.5: ``{"channel": ..., "requests": [{id, code, createdAt, lastSeenAt, meta}]}``."""
    code = seed(state_dir, "zalo", "work", "42", "Bob")
    seed(state_dir, "zalo", "default", "43")
    assert run_cli(["pairing", "list", "zalo", "--account", "work", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["channel"] == "zalo"
    [request] = data["requests"]
    assert request["id"] == "42"
    assert request["code"] == code
    assert request["meta"] == {"accountId": "work", "name": "Bob"}
    assert set(request) == {"id", "code", "createdAt", "lastSeenAt", "meta"}


def test_approve_prints_the_sender_and_fills_the_allow_store(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway §1.5: ``Approved <channel> sender <id>.``; added to the request's account."""
    code = seed(state_dir, "zalouser", "beta", "777")
    assert run_cli(["pairing", "approve", "zalouser", code.lower()]) == 0
    assert "Approved zalouser sender 777." in capsys.readouterr().out
    assert allowed(state_dir, "zalouser", "beta") == frozenset({"777"})


def test_approve_unknown_code_is_a_one_line_error(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway §1.5: ``No pending pairing request found for code: <CODE>``."""
    assert run_cli(["pairing", "approve", "zalo", "nope2345"]) == 1
    err = capsys.readouterr().err
    assert "No pending pairing request found for code: NOPE2345" in err
    assert "Traceback" not in err


def test_approve_with_code_only_finds_its_channel(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway §1.5: ``approve <code>`` when the code is pending in one channel."""
    code = seed(state_dir, "zalo", "default", "42")
    assert run_cli(["pairing", "approve", code]) == 0
    assert "Approved zalo sender 42." in capsys.readouterr().out


def test_approve_with_channel_option(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = seed(state_dir, "zalo", "default", "42")
    assert run_cli(["pairing", "approve", "--channel", "zl", code]) == 0
    assert "Approved zalo sender 42." in capsys.readouterr().out


def test_unknown_channel_is_a_clear_error(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["pairing", "list", "telegram"]) == 1
    assert "unknown channel 'telegram'" in capsys.readouterr().err
    assert run_cli(["pairing", "approve", "telegram", "ABCD2345"]) == 1


def test_missing_code_is_a_clear_error(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["pairing", "approve", "zalo"]) == 1
    assert "Missing pairing code" in capsys.readouterr().err


def test_notify_sends_the_approval_text(
    state_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gateway §1.5: ``--notify`` sends a confirmation on the same channel."""
    sent: list[tuple[str, str, str, str]] = []

    async def notifier(channel: str, account: str, sender: str, text: str) -> None:
        sent.append((channel, account, sender, text))

    def factory(state: CliState, channel: str) -> PairingNotifier:
        return notifier

    monkeypatch.setattr(pairing_cli, "make_notifier", factory)
    code = seed(state_dir, "zalo", "work", "42")
    assert run_cli(["pairing", "approve", "zalo", code, "--notify"]) == 0
    assert sent == [("zalo", "work", "42", "Your pairing request has been approved.")]


def test_notify_failure_warns_and_keeps_the_approval(
    state_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gateway §1.5: if sending fails, the CLI warns and the approval stands."""

    async def notifier(channel: str, account: str, sender: str, text: str) -> None:
        raise RuntimeError("Zalo token not configured")

    monkeypatch.setattr(pairing_cli, "make_notifier", lambda state, channel: notifier)
    code = seed(state_dir, "zalo", "default", "42")
    assert run_cli(["pairing", "approve", "zalo", code, "--notify"]) == 0
    captured = capsys.readouterr()
    assert "Approved zalo sender 42." in captured.out
    assert "could not notify 42" in captured.err
    assert allowed(state_dir, "zalo", "default") == frozenset({"42"})


def test_state_dir_falls_back_to_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZALOGATE_CONFIG", raising=False)
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "env-state"))
    assert pairing_cli._state_dir(CliState()) == tmp_path / "env-state"


def test_state_dir_comes_from_the_config_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "zalogate.json5"
    config.write_text('{ gateway: { stateDir: "from-config" } }', encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "env-state"))
    assert pairing_cli._state_dir(CliState(config_path=config)) == tmp_path / "from-config"


def test_state_dir_with_an_invalid_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "zalogate.json5"
    config.write_text("{ gateway: { bogus: 1 } }", encoding="utf-8")
    with pytest.raises(pairing_cli.CliError, match=r"gateway\.bogus: unknown key"):
        pairing_cli._state_dir(CliState(config_path=config))


def test_notify_unavailable_warns_and_keeps_the_approval(
    state_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pairing_cli, "make_notifier", lambda state, channel: None)
    code = seed(state_dir, "zalouser", "default", "42")
    assert run_cli(["pairing", "approve", "zalouser", code, "--notify"]) == 0
    assert "could not notify 42" in capsys.readouterr().err
    assert allowed(state_dir, "zalouser", "default") == frozenset({"42"})
