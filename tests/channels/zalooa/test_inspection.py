"""`zalogate doctor` and `channels status` read the zalooa config through its inspector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zalogate.cli.app import main


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code if isinstance(exited.value.code, int) else 1


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    for name in ("ZALOGATE_CONFIG", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "zalogate.json5"
    path.write_text(
        '{ agent: { type: "command", command: { argv: ["cat"] } },'
        ' channels: { zalooa: { appId: "123", groupPolicy: "disabled" } } }',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_doctor_names_the_missing_keys_and_their_fix(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["doctor", "--json", "--config", str(config)]) == 1
    body = json.loads(capsys.readouterr().out)
    errors = [c["message"] for c in body["checks"] if c["level"] == "error"]
    warnings = [c["message"] for c in body["checks"] if c["level"] == "warning"]
    assert any("channels.zalooa.secretKey is not set" in m for m in errors)
    assert not any("appId" in m for m in errors)
    assert any("oaSecretKey is not set" in m for m in warnings)
    assert any("redirectUri is not set" in m for m in warnings)
