"""`zalogate agents list|bindings` and `zalogate message schedule` (+ `list`, `cancel`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "zalogate.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


TWO_AGENTS: dict[str, Any] = {
    "agents": {
        "list": [
            {"id": "sales", "default": True},
            {
                "id": "support",
                "type": "http",
                "http": {"url": "https://flows.example/zalo", "secret": "flow-secret"},
            },
        ]
    },
    "bindings": [
        {"agentId": "support", "match": {"channel": "zalo", "accountId": "help"}},
        {"agentId": "sales", "match": {"channel": "zalo", "accountId": "*"}},
    ],
    "channels": {"zalo": {"accounts": {"shop": {"botToken": "1:a"}, "help": {"botToken": "2:b"}}}},
}


def test_agents_list_and_bindings(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, TWO_AGENTS))
    assert run_cli(["--config", config, "agents", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {"id": "sales", "type": "echo", "name": None, "default": True, "bindings": 1},
        {"id": "support", "type": "http", "name": None, "default": False, "bindings": 1},
    ]
    assert run_cli(["--config", config, "agents", "bindings", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["defaultAgent"] == "sales"
    assert data["bindings"][0] == {
        "agentId": "support",
        "match": {"channel": "zalo", "accountId": "help"},
        "tier": "account",
    }
    assert run_cli(["--config", config, "agents", "bindings"]) == 0
    out = capsys.readouterr().out
    assert "Otherwise: the default agent 'sales'." in out
    assert "flow-secret" not in out


def test_schedule_add_list_cancel(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, TWO_AGENTS))
    base = ["--config", config, "message", "schedule"]
    assert run_cli([*base, "-t", "u1", "-m", "Nhắc", "--at", "+10m", "--json"]) == 0
    once = json.loads(capsys.readouterr().out)
    assert (once["channel"], once["target"], once["cron"], once["status"]) == (
        "zalo",
        "u1",
        None,
        "active",
    )
    assert (
        run_cli(
            [*base, "-t", "group:g1", "-m", "Họp", "--cron", "0 8 * * 1-5", "--account", "help"]
        )
        == 0
    )
    assert "cron '0 8 * * 1-5' in Asia/Ho_Chi_Minh" in capsys.readouterr().out
    assert run_cli([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["target"] for s in listed] == ["u1", "group:g1"]
    assert run_cli([*base, "cancel", once["id"]]) == 0
    assert capsys.readouterr().out == f"Cancelled {once['id']}.\n"
    assert run_cli([*base, "list", "--json"]) == 0
    assert [s["target"] for s in json.loads(capsys.readouterr().out)] == ["group:g1"]
    assert run_cli([*base, "list", "--all", "--json"]) == 0
    statuses = {s["id"]: s["status"] for s in json.loads(capsys.readouterr().out)}
    assert statuses[once["id"]] == "cancelled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "u1", "-m", "x"], "give exactly one of --at TIME or --cron EXPR"),
        (["-t", "u1", "-m", "x", "--at", "+1m", "--cron", "* * * * *"], "exactly one"),
        (["-t", "u1", "-m", "x", "--cron", "61 * * * *"], "invalid cron expression"),
        (["-t", "u1", "-m", "x", "--at", "yesterday"], "expected +10m, 18:30 or"),
        (["-t", "u1", "-m", "x", "--at", "2020-01-01T10:00"], "is in the past"),
        (["-t", "u1", "-m", "x", "--at", "+1m", "--tz", "Saigon"], "unknown time zone"),
        (["-t", "u1", "--at", "+1m"], "nothing to send"),
        (["cancel", "s_nope"], "no active schedule 's_nope'"),
    ],
)
def test_schedule_mistakes_are_one_line(
    tmp_path: Path,
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config = str(write_config(tmp_path, TWO_AGENTS))
    assert run_cli(["--config", config, "message", "schedule", *args]) != 0
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
