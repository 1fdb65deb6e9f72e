"""The real CLI against the simulator (running on its own thread): ``channels login``,
``channels status --probe``, ``message send``, ``directory`` and ``channels logout``."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from zalogate.cli.app import main
from zalogate.testing import FakeZaloPersonal

BOT, ALICE, GROUP = "1001", "2001", "9001"


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture
def fake() -> Iterator[FakeZaloPersonal]:
    fake = FakeZaloPersonal(long_poll_s=0.2, auto_approve_qr=BOT)
    fake.start_in_thread()
    fake.run(lambda: fake.add_account(BOT, "Bot", friends=(ALICE,)))
    fake.run(lambda: fake.add_account(ALICE, "Alice"))
    fake.run(lambda: fake.add_group(GROUP, "Team", [BOT, ALICE]))
    yield fake
    fake.stop_thread()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeZaloPersonal) -> Path:
    state = tmp_path / "state"
    config = tmp_path / "zalogate.json5"
    config.write_text(
        json.dumps(
            {
                "gateway": {"host": "127.0.0.1", "port": 9},
                "channels": {
                    "zalouser": {
                        "apiHosts": {
                            "id": fake.base_url,
                            "wpa": fake.base_url,
                            "jr": fake.base_url,
                        },
                        "websocketUrl": fake.ws_url,
                        "dmPolicy": "pairing",
                        "groupPolicy": "allowlist",
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    for name in ("ZALOUSER_PROFILE", "ZCA_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return state


def test_login_status_send_directory_logout(
    state_dir: Path, fake: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["channels", "status", "--channel", "zalouser", "--probe", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    (row,) = before["channels"][0]["accounts"]
    assert row["configured"] is False
    assert row["probe"]["ok"] is False
    assert any("channels login --channel zalouser" in w for w in row["warnings"])

    assert run_cli(["channels", "login", "--channel", "zalouser"]) == 0
    out = capsys.readouterr().out
    assert "Login successful. Logged in as Bot (1001)" in out
    assert "QR image saved to:" in out
    qr_png = next((state_dir / "tmp").glob("zalouser-login-qr-*.png"))
    assert stat.S_IMODE(qr_png.stat().st_mode) == 0o600
    session = state_dir / "credentials" / "zalouser" / "default.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600

    assert run_cli(["channels", "status", "--channel", "zalouser", "--probe", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["channels"][0]["accounts"]
    assert row["configured"] is True
    assert row["probe"]["ok"] is True
    assert row["probe"]["identity"]["displayName"] == "Bot"

    code = run_cli(
        ["message", "send", "--channel", "zalouser", "--target", ALICE, "-m", "**hi** there"]
    )
    assert code == 0
    sent = fake.run(lambda: [r for r in fake.sent if r.kind == "text"])
    assert [(r.thread_id, r.text) for r in sent] == [(ALICE, "hi there")]
    capsys.readouterr()

    assert run_cli(["directory", "peers", "list", "--channel", "zalouser", "--json"]) == 0
    peers = json.loads(capsys.readouterr().out)
    assert "Alice" in json.dumps(peers)
    members_cmd = ["directory", "groups", "members", GROUP, "--channel", "zalouser", "--json"]
    assert run_cli(members_cmd) == 0
    members = json.loads(capsys.readouterr().out)
    assert "Bot" in json.dumps(members)
    assert "Alice" in json.dumps(members)

    assert run_cli(["channels", "logout", "--channel", "zalouser"]) == 0
    assert "Logged out and cleared local session." in capsys.readouterr().out
    assert not session.exists()
    assert run_cli(["channels", "logout", "--channel", "zalouser"]) == 0
    assert "No local session to clear." in capsys.readouterr().out
