"""Every command behaves the same way: shared options, --config anywhere, readable help."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from zalogate.cli.app import _SUBCOMMANDS, app
from zalogate.cli.options import ACCOUNT_HELP, CHANNEL_HELP, CONFIG_HELP, JSON_HELP, LIMIT_HELP
from zalogate.config.starter import STARTER_CONFIG
from zalogate.core.pairing import SqlitePairingStore
from zalogate.store import Store

from .conftest import free_port, run_cli

SHARED = {"--json": JSON_HELP, "--channel": CHANNEL_HELP, "--account": ACCOUNT_HELP}


def _leaves(command: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        for name, sub in subcommands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield path, command


def every_command() -> list[tuple[tuple[str, ...], object]]:
    group = typer.main.get_command(app)
    found = []
    for name in _SUBCOMMANDS:
        command = group.get_command(typer.Context(group), name)  # type: ignore[attr-defined]
        found.extend(_leaves(command, (name,)))
    return found


COMMANDS = every_command()


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_each_command_takes_the_shared_options_with_one_wording(
    path: tuple[str, ...], command: object
) -> None:
    params = {opt: param for param in command.params for opt in getattr(param, "opts", [])}  # type: ignore[attr-defined]
    assert "--config" in params, "--config is accepted after every sub-command"
    for flag, wording in SHARED.items():
        if flag in params:
            assert params[flag].help == wording, f"{' '.join(path)} {flag}"
    if "-n" in params:
        assert "--limit" in params["-n"].opts, "-n always means --limit"
        assert params["-n"].help.startswith(LIMIT_HELP)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_no_python_types(path: tuple[str, ...], command: object) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="zalogate")
    assert result.exit_code == 0, result.output
    text = result.output
    for bad in ("<bool>", "<str>", "<int", "<list[", "[[", "x>=", "<=x", "<path>", "<float"):
        assert bad not in text, f"{' '.join(path)} --help shows {bad!r}"
    assert "--config FILE" in text
    assert CONFIG_HELP.split(".")[0] in text
    assert not re.search(r"[╭│╰]", text), "plain help, no boxes"


def test_config_is_accepted_after_any_sub_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ZALOGATE_CONFIG", raising=False)
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "mine.json5"
    config.write_text("{ gateway: { port: 18999 } }\n")
    assert run_cli(["config", "path", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(config)
    assert run_cli(["pairing", "list", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"channel": None, "requests": []}
    assert run_cli(["gateway", "status", "--config", str(config)]) == 1
    assert "127.0.0.1:18999" in capsys.readouterr().err  # the port came from that file


def test_the_starter_config_names_a_login_command_that_works() -> None:
    line = next(line for line in STARTER_CONFIG.splitlines() if "channels login" in line)
    command = re.search(r"`zalogate ([^`]+)`", line)
    assert command is not None
    result = CliRunner().invoke(app, [*command.group(1).split(), "--help"])
    assert result.exit_code == 0, result.output


def test_logs_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "gateway.log").write_text("one\ntwo\nthree\n")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(tmp_path / "none.json5"))
    (tmp_path / "none.json5").write_text("{}")
    assert run_cli(["logs", "--json", "-n", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == ["two", "three"]


def test_config_show_fills_in_what_applies_to_each_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "c.json5"
    config.write_text('{ channels: { zalo: { botToken: "1:secret-token" } } }')
    assert run_cli(["config", "show", "--json", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["gateway"]["stateDir"] == str(tmp_path / "state")
    assert shown["accounts"]["zalo"]["default"] == {
        "enabled": True,
        "default": True,
        "dmPolicy": "pairing",
        "allowFrom": [],
        "groupPolicy": "open",
        "groupAllowFrom": None,
        "groups": [],
        "historyLimit": 50,
    }
    assert "secret-token" not in out


@pytest.fixture
def zalouser_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "c.json5"
    config.write_text('{ channels: { zalouser: { dmPolicy: "pairing" } } }')
    return config


@pytest.mark.parametrize("command", [["pairing", "list"], ["channels", "status"], ["doctor"]])
def test_read_only_commands_do_not_create_the_state_dir(
    zalouser_config: Path, tmp_path: Path, command: list[str]
) -> None:
    run_cli([*command, "-c", str(zalouser_config)])
    assert not (tmp_path / "state").exists()


def test_a_state_dir_that_cannot_be_created_says_why_and_the_fix(
    zalouser_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(blocker / "state"))
    assert run_cli(["pairing", "approve", "zalo", "ABCD2345", "-c", str(zalouser_config)]) == 1
    err = capsys.readouterr().err
    assert f"{blocker} is a file, not a folder" in err
    assert "set gateway.stateDir or $ZALOGATE_STATE_DIR" in err
    assert "Errno" not in err
    assert run_cli(["doctor", "-c", str(zalouser_config)]) == 1
    assert "error   state: cannot create the state dir" in capsys.readouterr().out


def test_a_failure_is_said_once_without_its_class_name(
    zalouser_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["message", "send", "--direct", "-t", "123", "-m", "hi", "-c", str(zalouser_config)]
    assert run_cli(args) == 1
    err = capsys.readouterr().err
    assert "NeedsLoginError" not in err
    assert err.count("needs QR login") == 1
    assert "zalogate channels login --channel zalouser" in err


def test_an_offline_login_names_the_host_it_cannot_reach_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    port = free_port()  # nothing listens there: as with no network
    config = tmp_path / "c.json5"
    hosts = dict.fromkeys(("id", "wpa", "jr"), f"http://127.0.0.1:{port}")
    config.write_text(json.dumps({"channels": {"zalouser": {"apiHosts": hosts}}}))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run_cli(["channels", "login", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach 127.0.0.1" in err
    assert err.lower().count("login failed") == 1


def test_directory_needs_no_channel_when_one_is_configured(
    zalouser_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["directory", "self", "-c", str(zalouser_config)]) == 1
    assert "zalouser: " in capsys.readouterr().err  # the configured one was chosen
    empty = tmp_path / "empty.json5"
    empty.write_text("{}")
    assert run_cli(["directory", "self", "-c", str(empty)]) == 1
    assert "no channel is configured; pass --channel" in capsys.readouterr().err


def _pending_request(state: Path) -> str:
    async def request() -> str:
        async with await Store.open(state) as store:
            made = await SqlitePairingStore(store).request(
                "zalouser", "default", "9000000000000002", sender_name="Minh Anh"
            )
            assert made.code is not None
            return made.code

    return asyncio.run(request())


def test_pairing_approve_prints_json(
    zalouser_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _pending_request(tmp_path / "state")
    args = ["pairing", "approve", code, "--json", "-c", str(zalouser_config)]
    assert run_cli(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "channel": "zalouser",
        "account": "default",
        "id": "9000000000000002",
        "approved": True,
        "notified": None,
    }


def test_pairing_list_is_aligned_text_with_expires_in(
    zalouser_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _pending_request(tmp_path / "state")
    assert run_cli(["pairing", "list", "zalouser", "-c", str(zalouser_config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Pairing requests (1)"
    assert lines[1].split() == ["CODE", "zalouserUserId", "NAME", "ACCOUNT", "EXPIRES", "IN"]
    row = lines[2]
    assert row.startswith(f"{code}  9000000000000002  Minh Anh")
    assert row.endswith(("60 min", "59 min"))
    assert lines[1].index("NAME") == row.index("Minh Anh")  # aligned columns


@pytest.mark.parametrize("group", [[], *([name] for name in _SUBCOMMANDS)])
def test_command_lists_are_not_cut_off(group: list[str]) -> None:
    result = CliRunner().invoke(app, [*group, "--help"], prog_name="zalogate")
    assert "..." not in result.output.split("Commands:")[-1] or "Commands:" not in result.output
