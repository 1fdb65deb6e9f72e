"""`zalogate plugins list|enable|disable|install`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from zalogate.cli import plugins as plugins_cli

from .conftest import run_cli

PLUGIN_MODULE = "zalogate_test_chan"
PLUGIN_SOURCE = """
from zalogate.core.channel import ChannelPlugin

def _create(context):
    raise NotImplementedError

plugin = ChannelPlugin(id="testchan", label="Test channel", create=_create)
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZALOGATE_CONFIG", raising=False)
    path = tmp_path / "state"
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(path))
    yield path
    sys.modules.pop(PLUGIN_MODULE, None)


def list_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, dict[str, object]]:
    assert run_cli(["plugins", "list", "--json", *extra]) == 0
    return {p["id"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}


def test_list_shows_the_builtin_channels(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = list_json(capsys)
    assert plugins["zalo"]["source"] == "builtin"
    assert plugins["zalo"]["enabled"] is True
    assert plugins["zalouser"]["distribution"] == "zalogate"
    assert run_cli(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "zalouser" in out
    assert "builtin" in out


def test_disable_and_enable_are_saved_in_the_state_dir_not_the_config(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "zalogate.json5"
    original = "{ // my comments\n  channels: { zalo: {} },\n}\n"
    config.write_text(original, encoding="utf-8")
    assert run_cli(["--config", str(config), "plugins", "disable", "zalo"]) == 0
    assert "zalo: disabled" in capsys.readouterr().out
    choices = state / "plugins.json"
    assert json.loads(choices.read_text()) == {"enabled": {"zalo": False}}
    assert stat.S_IMODE(choices.stat().st_mode) == 0o600
    plugins = list_json(capsys, "--config", str(config))
    assert plugins["zalo"]["enabled"] is False
    assert plugins["zalo"]["reason"] == "zalogate plugins disable"

    assert run_cli(["plugins", "enable", "zalo", "--json", "--config", str(config)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["enabled"] is True
    assert body["saved"] == str(choices)
    assert config.read_text(encoding="utf-8") == original


def test_enabling_a_plugin_the_config_denies_warns(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "zalogate.json5"
    config.write_text('{ plugins: { deny: ["zalouser"] } }', encoding="utf-8")
    assert run_cli(["--config", str(config), "plugins", "enable", "zalouser"]) == 0
    err = capsys.readouterr().err
    assert "zalouser stays disabled: listed in plugins.deny in the config decides" in err


def test_unknown_plugin_is_a_one_line_error(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["plugins", "disable", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no channel plugin 'nope' is installed (installed: zalo, zalooa, zalouser)" in err
    assert "Traceback" not in err
    assert not (state / "plugins.json").exists()


def fake_pip(
    site: Path, *, returncode: int = 0, entry_point: bool = True, stderr: str = ""
) -> object:
    """A stand-in for ``run_pip`` that "installs" a distribution into ``site``."""

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if returncode == 0:
            info = site / "zalogate_test_chan-0.3.0.dist-info"
            info.mkdir(parents=True)
            (info / "METADATA").write_text(
                "Metadata-Version: 2.1\nName: zalogate-test-chan\nVersion: 0.3.0\n"
            )
            if entry_point:
                (info / "entry_points.txt").write_text(
                    f"[zalogate.channels]\ntestchan = {PLUGIN_MODULE}:plugin\n"
                )
            (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
        return subprocess.CompletedProcess(list(args), returncode, "", stderr)

    return run


def test_install_verifies_the_new_entry_point(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    calls: list[Sequence[str]] = []
    runner = fake_pip(site)

    def recording(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(args))
        return runner(args)  # type: ignore[operator,no-any-return]

    monkeypatch.setattr(plugins_cli, "run_pip", recording)
    assert (
        run_cli(["plugins", "install", "zalogate-test-chan==0.3.0", "--pip-arg", "--no-deps"]) == 0
    )
    out = capsys.readouterr().out
    assert "installed channel plugin testchan (Test channel) from zalogate-test-chan 0.3.0" in out
    assert calls == [
        ["install", "--disable-pip-version-check", "--no-deps", "zalogate-test-chan==0.3.0"]
    ]


def test_install_of_a_path_passes_the_absolute_path(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    project = tmp_path / "proj"
    project.mkdir()
    seen: list[str] = []
    runner = fake_pip(site)

    def recording(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        seen.append(args[-1])
        return runner(args)  # type: ignore[operator,no-any-return]

    monkeypatch.setattr(plugins_cli, "run_pip", recording)
    monkeypatch.chdir(tmp_path)
    assert run_cli(["plugins", "install", "proj", "--json"]) == 0
    assert seen == [str(project)]
    body = json.loads(capsys.readouterr().out)
    assert body == {
        "installed": [
            {
                "id": "testchan",
                "label": "Test channel",
                "distribution": "zalogate-test-chan",
                "version": "0.3.0",
            }
        ]
    }


def test_install_reports_a_pip_failure(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        plugins_cli,
        "run_pip",
        fake_pip(
            tmp_path, returncode=1, stderr="noise\nERROR: No matching distribution found for nope\n"
        ),
    )
    assert run_cli(["plugins", "install", "nope"]) == 1
    err = capsys.readouterr().err
    assert "pip install nope failed (exit 1): ERROR: No matching distribution found for nope" in err


def test_install_without_an_entry_point_is_an_error(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins_cli, "run_pip", fake_pip(site, entry_point=False))
    assert run_cli(["plugins", "install", "requests"]) == 1
    err = capsys.readouterr().err
    assert "no new 'zalogate.channels' entry point appeared" in err


def build_wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel with one ``zalogate.channels`` entry point."""
    name, version = "zalogate_test_chan", "0.3.0"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{PLUGIN_MODULE}.py": PLUGIN_SOURCE,
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: zalogate-test-chan\nVersion: {version}\n"
        ),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[zalogate.channels]\ntestchan = {PLUGIN_MODULE}:plugin\n",
    }

    def digest(data: bytes) -> str:
        return (
            "sha256="
            + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        )

    record = [f"{p},{digest(c.encode())},{len(c.encode())}" for p, c in files.items()]
    record.append(f"{info}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_install_a_local_wheel_with_real_pip_in_a_scratch_environment(tmp_path: Path) -> None:
    # A throw-away venv that sees this environment's packages (zalogate, pip) through a .pth,
    # so that pip installs into the scratch venv and never into the shared one. Offline.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    scratch_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    outer_site = sysconfig.get_paths()["purelib"]
    Path(scratch_site, "zalogate-outer.pth").write_text(
        f"import site; site.addsitedir({outer_site!r})\n"
    )
    wheel = build_wheel(tmp_path)
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "ZALOGATE_STATE_DIR": str(tmp_path / "state"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    env.pop("ZALOGATE_CONFIG", None)
    install = subprocess.run(
        [str(python), "-m", "zalogate", "plugins", "install", str(wheel), "--pip-arg=--no-deps"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert (
        "installed channel plugin testchan (Test channel) from zalogate-test-chan 0.3.0"
        in install.stdout
    )
    listed = subprocess.run(
        [str(python), "-m", "zalogate", "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    plugins = {p["id"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert plugins["testchan"]["source"] == "third-party"
    assert plugins["testchan"]["version"] == "0.3.0"
    # The shared environment is untouched.
    assert not any(Path(outer_site).glob("zalogate_test_chan*"))
