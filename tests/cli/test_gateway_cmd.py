"""`zalogate gateway run|status`: a real gateway process, its signals, and the status query."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from zalogate.cli import gateway as gateway_cli
from zalogate.config import ConfigError
from zalogate.runtime.http import HttpServer
from zalogate.runtime.status import AccountState, AccountStatus

from .conftest import free_port, run_cli


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    config = tmp_path / "zalogate.json5"
    # One channel, so `gateway run` runs; its API is a closed loopback port (never the internet).
    config.write_text(
        '{ channels: { zalo: { botToken: "1234567890:test-token",'
        ' apiBaseUrl: "http://127.0.0.1:9" } } }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    return dict(os.environ)


def test_status_without_a_running_gateway_says_so(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    assert run_cli(["gateway", "status", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert "no gateway is running" in err
    assert str(port) in err
    assert "Traceback" not in err


async def test_status_shows_the_accounts_of_a_running_gateway(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        AccountStatus("zalo", "default", AccountState.UNAUTHORIZED, last_error="401"),
        AccountStatus(
            "zalouser", "work", AccountState.STOPPED, reason="stopped by channels logout"
        ),
    ]
    async with HttpServer("127.0.0.1", 0, status=lambda: records) as server:
        port = str(server.port)
        json_code = await asyncio.to_thread(
            run_cli, ["gateway", "status", "--json", "--port", port]
        )
        json_out = capsys.readouterr().out
        table_code = await asyncio.to_thread(run_cli, ["gateway", "status", "--port", port])
        table_out = capsys.readouterr().out
    assert json_code == 0
    body = json.loads(json_out)
    assert body["accounts"][0]["state"] == "unauthorized"
    assert table_code == 0
    assert "unauthorized" in table_out
    assert "default" in table_out
    # Why an account is stopped shows with its state.
    assert body["accounts"][1]["reason"] == "stopped by channels logout"
    assert "zalouser/work: stopped by channels logout" in table_out.splitlines()


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["real config", "stub config"])
def test_gateway_run_serves_healthz_and_stops_cleanly_on_sigterm(
    tmp_path: Path, env: dict[str, str], how: str
) -> None:
    """``python -m zalogate gateway run``, and the same with a namespace for the config."""
    port = free_port()
    launcher = ["-m", "zalogate"] if how == "real config" else ["-c", STUB_RUN]
    process = subprocess.Popen(
        [sys.executable, *launcher, "gateway", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = wait_for_health(port, process)
        assert body["ok"] is True
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"127.0.0.1:{port}" in err
    assert "gateway.log" in err
    log_file = tmp_path / "state" / "logs" / "gateway.log"
    assert "gateway stopped" in log_file.read_text(encoding="utf-8")


def test_gateway_run_refuses_an_invalid_config(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    Path(env["ZALOGATE_CONFIG"]).write_text(
        '{ gateway: { port: "not a port" }, noSuchKey: 1 }', encoding="utf-8"
    )
    assert run_cli(["gateway", "run"]) == 1
    err = capsys.readouterr().err
    assert "invalid" in err
    assert "Traceback" not in err


def wait_for_health(port: int, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"gateway exited early ({process.returncode}): {err}")
        try:
            response = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return dict(response.json())
        except httpx2.TransportError:
            time.sleep(0.1)
    pytest.fail("gateway did not answer /healthz in time")


def test_invalid_config_lists_every_problem_and_exits_1(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def load_config(path: Path | None, *, env: dict[str, str]) -> object:
        raise ConfigError(
            ["gateway.port: expected an integer", f"noSuchKey: unknown key ({TOKEN})"]
        )

    monkeypatch.setattr(gateway_cli, "load_config", load_config)
    assert run_cli(["gateway", "run"]) == 1
    err = capsys.readouterr().err
    assert "gateway.port: expected an integer" in err
    assert "noSuchKey: unknown key" in err
    assert TOKEN not in err
    assert "Traceback" not in err


def test_invalid_config_file_lists_each_problem_with_its_key_path(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    Path(env["ZALOGATE_CONFIG"]).write_text(
        '{ gateway: { port: 70000 }, channels: { zalo: { dmPolicy: "opne" } }, extra: 1 }',
        encoding="utf-8",
    )
    assert run_cli(["gateway", "run"]) == 1
    err = capsys.readouterr().err
    assert "gateway.port: must be <= 65535" in err
    assert "channels.zalo.dmPolicy: must be" in err
    assert "extra: unknown key" in err
    assert "3 problem(s)" in err


TOKEN = "1234567890:SecretBotTokenInAConfigError"

STUB_RUN = """
import os, sys
from pathlib import Path
from types import SimpleNamespace
import zalogate.config as config_module

def load_config(path, *, env):
    return SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=18789))

config_module.load_config = load_config
config_module.state_dir = lambda config, env: Path(env["ZALOGATE_STATE_DIR"])
config_module.ConfigError = ValueError
from zalogate.cli import gateway as gateway_cli
from zalogate.cli.app import main
from zalogate.config import ConfigError
main(sys.argv[1:])
"""


def test_busy_port_is_a_one_line_error(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert run_cli(["gateway", "run", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "`zalogate gateway status`; or use --port" in err
    assert "Errno" not in err
    assert "Traceback" not in err


def test_gateway_run_with_nothing_configured_says_what_to_do(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    Path(env["ZALOGATE_CONFIG"]).write_text("{}\n", encoding="utf-8")
    assert run_cli(["gateway", "run"]) == 1
    err = capsys.readouterr().err
    assert "no channel is configured" in err
    assert "zalogate config init" in err
    assert "zalogate sandbox" in err
