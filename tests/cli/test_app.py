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


def test_error_line_keeps_square_brackets_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import zalogate.cli.mcp as mcp_cli
    from zalogate.mcp import McpUnavailableError

    def unavailable() -> None:
        raise McpUnavailableError("install it: pip install 'zalogate[mcp]'")

    monkeypatch.setattr(mcp_cli, "require_mcp", unavailable)
    with pytest.raises(SystemExit) as exited:
        main(["mcp"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "pip install 'zalogate[mcp]'" in err
    assert "Traceback" not in err
