"""The root command: help, version, and the one-line error boundary."""

from __future__ import annotations

import pytest

from zalogate.cli.app import main


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for group in (
        "config",
        "gateway",
        "channels",
        "message",
        "directory",
        "pairing",
        "plugins",
        "sandbox",
        "mcp",
        "doctor",
        "logs",
    ):
        assert group in out


def test_unknown_command_is_a_usage_error_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no-such-command" in err
