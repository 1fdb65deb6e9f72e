"""`zalogate console`: a one-time link signed with the running gateway's token, a clear error
without a gateway, `--open` hands the link to the browser; the wheel ships the pages."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import pytest

from zalogate.console.auth import ConsoleAuth, Session
from zalogate.runtime.control import write_token_file

from .conftest import run_cli


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "zalogate.json5"
    path.write_text("{gateway: {port: 18999}}\n", encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    return path


def test_without_a_running_gateway_it_says_so(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["console"]) == 1
    err = capsys.readouterr().err
    assert "no running gateway" in err
    assert "gateway run" in err
    assert "Traceback" not in err


def test_prints_a_link_the_gateway_accepts_once(
    state_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_token_file(state_dir, "the-control-token")
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert run_cli(["console", "--open"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://127.0.0.1:18999/console/login?")
    assert opened == [link]
    assert "the-control-token" not in link
    params = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    auth = ConsoleAuth(lambda: "the-control-token")
    assert isinstance(asyncio.run(auth.redeem(params["n"], params["e"], params["s"])), Session)
    assert asyncio.run(auth.redeem(params["n"], params["e"], params["s"])) == "link_used"


def test_the_package_ships_the_console_pages() -> None:
    console = resources.files("zalogate.console")
    for name in ("templates/base.html", "templates/overview.html", "static/console.css"):
        assert console.joinpath(name).is_file(), name
