"""`zalogate logs`: the last lines of the gateway log, following it across rotation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from zalogate.cli.logs import follow, tail_lines
from zalogate.runtime.logging import gateway_log_path

from .conftest import run_cli


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    config = tmp_path / "zalogate.json5"
    config.write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    return state


def test_missing_log_is_a_clear_error(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["logs"]) == 1
    err = capsys.readouterr().err
    assert "no gateway log yet" in err
    assert "Traceback" not in err


def test_last_lines_are_printed(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = gateway_log_path(state_dir)
    log_file.parent.mkdir(parents=True)
    log_file.write_text("".join(f"line {i}\n" for i in range(10)), encoding="utf-8")
    assert run_cli(["logs", "--lines", "3"]) == 0
    assert capsys.readouterr().out.splitlines() == ["line 7", "line 8", "line 9"]


def test_tail_of_zero_lines_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("a\nb\n", encoding="utf-8")
    assert tail_lines(path, 0) == []
    assert tail_lines(path, 5) == ["a\n", "b\n"]


def test_follow_prints_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text("old line\n", encoding="utf-8")
    out = io.StringIO()
    steps = iter(
        [
            lambda: _append(path, "new 1\n"),
            lambda: None,
            lambda: (path.rename(tmp_path / "gateway.log.1"), _append(path, "after rotation\n")),
            lambda: None,
            lambda: None,
        ]
    )

    def should_stop() -> bool:
        step = next(steps, None)
        if step is None:
            return True
        step()
        return False

    follow(path, out, poll=0, should_stop=should_stop)
    assert out.getvalue().splitlines() == ["new 1", "after rotation"]


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
