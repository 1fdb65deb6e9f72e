"""`zalogate config validate|show|init|path`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import json5
import pytest

from .conftest import run_cli

BROKEN = """{
  // three independent mistakes
  gateway: { port: 70000 },
  channels: {
    zalo: { accounts: { work: { webhookSecret: "short" } } },
    zalouser: { dmPolicy: "open", allowFrom: ["123"] },
  },
}
"""
BROKEN_PROBLEMS = [
    "gateway.port: must be <= 65535",
    "channels.zalo.accounts.work.webhookSecret: must be 8-256 characters",
    'channels.zalouser.allowFrom: dmPolicy "open" requires "*" in allowFrom',
]
TOKEN = "1234567890:TopSecretBotToken"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("ZALOGATE_CONFIG", "ZALOGATE_STATE_DIR", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "ok.json5", '{ channels: { zalo: { botToken: "1:x" } } }')
    assert run_cli(["--config", str(config), "config", "validate"]) == 0
    assert capsys.readouterr().out.strip() == f"config OK: {config}"


def test_validate_without_a_file_uses_the_defaults(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["config", "validate"]) == 0
    out = capsys.readouterr().out
    assert "config OK" in out
    assert str(home / ".zalogate" / "zalogate.json5") in out


def test_validate_lists_all_three_mistakes_with_key_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path / "broken.json5", BROKEN)
    assert run_cli(["config", "validate", "--config", str(broken)]) == 1
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()]
    assert [line for line in lines if line in BROKEN_PROBLEMS] == BROKEN_PROBLEMS  # file order
    assert "3 problem(s)" in err
    assert "Traceback" not in err


def test_validate_as_a_real_process_exits_1_with_every_problem(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.json5", BROKEN)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("ZALOGATE_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "zalogate", "config", "validate", "--config", str(broken)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    for problem in BROKEN_PROBLEMS:
        assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = write(tmp_path / "broken.json5", BROKEN)
    assert run_cli(["--config", str(broken), "config", "validate", "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False
    assert body["path"] == str(broken)
    assert sorted(body["problems"]) == sorted(BROKEN_PROBLEMS)


def test_validate_a_missing_explicit_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json5"
    assert run_cli(["--config", str(missing), "config", "validate"]) == 1
    assert f"{missing}: config file not found" in capsys.readouterr().err


def test_validate_never_prints_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        tmp_path / "c.json5",
        f'{{ channels: {{ zalo: {{ botToken: "{TOKEN}", webhookSecret: "{TOKEN}", bad: 1 }} }} }}',
    )
    assert run_cli(["--config", str(config), "config", "validate"]) == 1
    captured = capsys.readouterr()
    assert "channels.zalo.bad: unknown key" in captured.err
    assert TOKEN not in captured.err + captured.out


def test_show_redacts_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        tmp_path / "c.json5",
        f'{{ channels: {{ zalo: {{ botToken: "{TOKEN}", dmPolicy: "allowlist" }} }},'
        ' agent: { type: "openai", openai: { apiKey: "sk-VERYSECRET" } } }',
    )
    assert run_cli(["--config", str(config), "config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert "sk-VERYSECRET" not in out
    body = json.loads(out)
    assert body["channels"]["zalo"] == {"botToken": "***", "dmPolicy": "allowlist"}
    assert body["agent"]["openai"]["apiKey"] == "***"
    assert body["gateway"]["port"] == 18789

    assert run_cli(["--config", str(config), "config", "show"]) == 0
    text = capsys.readouterr().out
    assert TOKEN not in text
    assert '"botToken": "***"' in text
    assert str(config) in text


def test_show_with_an_invalid_config_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path / "broken.json5", BROKEN)
    assert run_cli(["--config", str(broken), "config", "show"]) == 1
    err = capsys.readouterr().err
    assert "error: the config is invalid (3 problem(s))" in err
    assert "Traceback" not in err


def test_init_writes_a_private_valid_starter_and_refuses_to_overwrite(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["config", "init"]) == 0
    path = home / ".zalogate" / "zalogate.json5"
    assert f"wrote {path}" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text(encoding="utf-8")
    data = json5.loads(text)
    assert "zalo" in data["channels"]
    assert "zalouser" in data["channels"]
    assert run_cli(["config", "validate"]) == 0
    capsys.readouterr()

    path.write_text("{ /* mine */ }", encoding="utf-8")
    assert run_cli(["config", "init"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "{ /* mine */ }"


def test_init_force_keeps_a_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "c.json5", "{ /* mine */ }")
    assert run_cli(["--config", str(path), "config", "init", "--force", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {"path": str(path), "created": True, "backup": str(path) + ".bak"}
    assert Path(str(path) + ".bak").read_text(encoding="utf-8") == "{ /* mine */ }"
    assert "channels" in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_path(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(home / ".zalogate" / "zalogate.json5")
    config = write(tmp_path / "c.json5", '{ gateway: { stateDir: "/srv/zalogate" } }')
    assert run_cli(["--config", str(config), "config", "path", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {"path": str(config), "exists": True, "stateDir": "/srv/zalogate"}


def test_a_file_that_is_not_json5_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.json5", "{ gateway: }")
    assert run_cli(["config", "validate", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: invalid JSON5: line 1")
    assert len(err.splitlines()) == 1


def test_show_merges_the_consoles_allowlist_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from zalogate.core.access_overlay import AccessOverlays, SqliteAccessOverlayStore
    from zalogate.store import Store

    state = tmp_path / "state"
    config = write(
        tmp_path / "c.json5",
        f'{{ gateway: {{ stateDir: "{state}" }}, channels: {{ zalo: {{ botToken: "{TOKEN}",'
        ' dmPolicy: "allowlist", allowFrom: ["111", "222"] } } }',
    )

    async def edit() -> None:
        async with await Store.open(state) as store:
            overlays = AccessOverlays(SqliteAccessOverlayStore(store))
            await overlays.allow("zalo", "default", "allowFrom", "333")
            await overlays.block("zalo", "default", "allowFrom", "111")
            await overlays.allow("zalo", "default", "groups", "g9")

    asyncio.run(edit())
    assert run_cli(["--config", str(config), "config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["accounts"]["zalo"]["default"]
    assert shown["allowFrom"] == ["222", "333"]
    assert shown["groups"] == ["g9"]
    assert shown["console"] == {
        "allowFrom": {"added": ["333"], "removed": ["111"]},
        "groups": {"added": ["g9"], "removed": []},
    }
