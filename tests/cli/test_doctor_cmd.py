"""`zalogate doctor`: config and state-dir checks, warnings about risky policies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from zalogate.store import DATABASE_FILENAME, Store

from .conftest import run_cli

SAFE = """{
  agent: { type: "command", command: { argv: ["cat"] } },
  channels: {
    defaults: { groupPolicy: "allowlist" },
    zalo: { botToken: "1:x" },
    zalouser: { groupPolicy: "disabled" },
  },
}"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("ZALOGATE_CONFIG", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "state"
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(path))
    return path


def doctor(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "zalogate.json5"
    path.write_text(config, encoding="utf-8")
    path.chmod(0o600)
    code = run_cli(["doctor", "--json", "--config", str(path)])
    return code, json.loads(capsys.readouterr().out)


def messages(body: dict[str, Any], level: str) -> list[str]:
    return [f"{c['check']}: {c['message']}" for c in body["checks"] if c["level"] == level]


async def test_a_safe_setup_has_no_errors_or_warnings(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await Store.open(state):
        pass
    code, body = doctor(tmp_path, SAFE, capsys)
    assert code == 0
    assert body["ok"] is True
    assert messages(body, "error") == []
    assert messages(body, "warning") == []
    assert any("mode 0600" in m for m in messages(body, "ok"))
    assert any("mode 0700" in m for m in messages(body, "ok"))


def test_text_output_and_exit_status(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zalogate.json5"
    path.write_text(SAFE, encoding="utf-8")
    path.chmod(0o600)
    assert run_cli(["--config", str(path), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in out


def test_loose_state_dir_and_database_modes_are_errors(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    database = state / DATABASE_FILENAME
    database.write_bytes(b"")
    database.chmod(0o644)
    code, body = doctor(tmp_path, SAFE, capsys)
    assert code == 1
    errors = messages(body, "error")
    assert f"state: {state} has mode 0755; it must be 0700: chmod 700 {state}" in errors
    assert f"state: {database} has mode 0644; it must be 0600: chmod 600 {database}" in errors


def test_every_loose_file_and_folder_under_the_state_dir_is_an_error(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = state / "credentials" / "zalouser"
    credentials.mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    (state / "credentials").chmod(0o755)
    secret = credentials / "credentials.json"
    secret.write_text("{}")
    secret.chmod(0o640)
    fine = credentials / "other.json"
    fine.write_text("{}")
    fine.chmod(0o600)
    code, body = doctor(tmp_path, SAFE, capsys)
    assert code == 1
    assert messages(body, "error") == [
        f"state: {state / 'credentials'} has mode 0755; it must be 0700: "
        f"chmod 700 {state / 'credentials'}",
        f"state: {secret} has mode 0640; it must be 0600: chmod 600 {secret}",
    ]


def test_missing_state_dir_is_fine(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = doctor(tmp_path, SAFE, capsys)
    assert code == 0
    assert any("does not exist yet" in m for m in messages(body, "ok"))


def test_an_invalid_config_is_an_error_per_problem(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = doctor(tmp_path, "{ gateway: { port: -1 }, nope: 1 }", capsys)
    assert code == 1
    assert sorted(messages(body, "error")) == [
        "config: gateway.port: must be >= 0",
        "config: nope: unknown key",
    ]
    # The state dir is still checked (from the environment).
    assert any(str(state) in m for m in messages(body, "ok"))


def test_open_dm_policy_is_a_warning(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SAFE.replace(
        'zalo: { botToken: "1:x" }', 'zalo: { botToken: "1:x", dmPolicy: "open", allowFrom: ["*"] }'
    )
    code, body = doctor(tmp_path, config, capsys)
    assert code == 0
    assert messages(body, "warning") == [
        'zalo/default: dmPolicy is "open": anyone can message the agent'
    ]


def test_unset_group_policy_resolves_to_open_and_is_a_loud_warning(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = """{ agent: { type: "command", command: { argv: ["cat"] } },
      channels: { zalo: { botToken: "1:x" }, zalouser: {} } }"""
    code, body = doctor(tmp_path, config, capsys)
    assert code == 0
    warnings = messages(body, "warning")
    assert len(warnings) == 2
    for channel in ("zalo", "zalouser"):
        (warning,) = [w for w in warnings if w.startswith(f"{channel}/default:")]
        assert "group policy is OPEN" in warning
        assert "groupPolicy is unset and so is channels.defaults.groupPolicy" in warning


def test_explicit_open_group_policy_is_a_warning_even_with_safe_defaults(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SAFE.replace('groupPolicy: "disabled"', 'groupPolicy: "open"')
    _, body = doctor(tmp_path, config, capsys)
    assert [w for w in messages(body, "warning") if "OPEN (groupPolicy)" in w] != []


def test_several_accounts_without_a_default_account_warn(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SAFE.replace(
        'zalouser: { groupPolicy: "disabled" }',
        'zalouser: { groupPolicy: "disabled", accounts: { b: {}, a: {} } }',
    )
    _, body = doctor(tmp_path, config, capsys)
    assert messages(body, "warning") == [
        "channels.zalouser: 2 accounts and no defaultAccount: 'a' is the default; "
        "set defaultAccount to be explicit"
    ]
    explicit = config.replace("accounts: {", 'defaultAccount: "b", accounts: {')
    _, body = doctor(tmp_path, explicit, capsys)
    assert messages(body, "warning") == []


def test_missing_zalo_token_warns_and_the_environment_counts(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SAFE.replace('zalo: { botToken: "1:x" }', "zalo: {}")
    _, body = doctor(tmp_path, config, capsys)
    assert messages(body, "warning") == [
        "zalo/default: no bot token (set botToken or tokenFile, or $ZALO_BOT_TOKEN)"
    ]
    monkeypatch.setenv("ZALO_BOT_TOKEN", "9:env")
    _, body = doctor(tmp_path, config, capsys)
    assert messages(body, "warning") == []


def test_symlinked_token_file_is_an_error(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "token"
    real.write_text("1:x", encoding="utf-8")
    link = tmp_path / "token-link"
    os.symlink(real, link)
    config = SAFE.replace('zalo: { botToken: "1:x" }', f'zalo: {{ tokenFile: "{link}" }}')
    code, body = doctor(tmp_path, config, capsys)
    assert code == 1
    assert messages(body, "error") == [f"zalo/default: tokenFile {link} is a symlink (refused)"]


def test_echo_agent_and_public_host_warn(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SAFE.replace(
        'agent: { type: "command", command: { argv: ["cat"] } },',
        'gateway: { host: "0.0.0.0" },',
    )
    _, body = doctor(tmp_path, config, capsys)
    warnings = messages(body, "warning")
    assert 'agent: agent.type is "echo": every message is repeated back' in warnings
    assert any(w.startswith("gateway: gateway.host is '0.0.0.0'") for w in warnings)


def test_world_readable_config_file_warns(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zalogate.json5"
    path.write_text(SAFE, encoding="utf-8")
    path.chmod(0o644)
    assert run_cli(["doctor", "--json", "--config", str(path)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert any("readable by other users (mode 0644)" in w for w in messages(body, "warning"))


def test_disabled_plugin_is_reported(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SAFE.replace("channels: {", 'plugins: { deny: ["zalouser"] }, channels: {')
    _, body = doctor(tmp_path, config, capsys)
    assert "plugins: zalouser is disabled (listed in plugins.deny)" in messages(body, "ok")


def test_third_party_channels_get_only_the_account_checks(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zalogate.config.loading.installed_channel_ids", lambda: {"tg"})
    config = SAFE.replace("channels: {", "channels: { tg: { accounts: { a: {}, b: {} } },")
    code, body = doctor(tmp_path, config, capsys)
    assert code == 0
    assert messages(body, "warning") == [
        "channels.tg: 2 accounts and no defaultAccount: 'a' is the default; "
        "set defaultAccount to be explicit"
    ]
