"""Gateway nodes as child processes (``python -m zalogate gateway run``) for cluster tests and
benchmarks: start, ask ``/healthz``, SIGKILL, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.fake_llm import FakeLLMServer
from zalogate.testing.nats_servers import free_port

__all__ = [
    "BotCluster",
    "GatewayNode",
    "bot_cluster",
    "cluster_bot_config",
    "run_cli",
    "wait_for",
]


def cluster_bot_config(
    cluster: dict[str, Any],
    *,
    bot_tokens: Sequence[str],
    bot_api_url: str,
    llm_url: str,
    llm_model: str,
) -> dict[str, Any]:
    """The config every node shares: ``gateway.cluster`` (node ids from ``ZALOGATE_NODE_ID``),
    polling ``zalo`` accounts open to everybody (one token: the default account; more:
    accounts ``bot0``, ``bot1``, ...), the ``openai`` agent at a fake LLM."""
    zalo: dict[str, Any] = {"apiBaseUrl": bot_api_url, "dmPolicy": "open", "allowFrom": ["*"]}
    if len(bot_tokens) == 1:
        zalo["botToken"] = bot_tokens[0]
    else:
        zalo["accounts"] = {f"bot{i}": {"botToken": t} for i, t in enumerate(bot_tokens)}
    return {
        "gateway": {"cluster": {"nodeId": "${ZALOGATE_NODE_ID}", **cluster}},
        "agent": {
            "type": "openai",
            "openai": {"baseUrl": llm_url, "model": llm_model, "apiKey": "fake-llm-key"},
        },
        "channels": {"zalo": zalo},
    }


class GatewayNode:
    """One ``zalogate gateway run`` child with its own state dir and port.

    Args:
        name: The node's name, in its environment as ``ZALOGATE_NODE_ID`` (a config writes
            ``nodeId: "${ZALOGATE_NODE_ID}"``).
        config_file: The config every node shares.
        root: A folder of its own (state dir, stderr).
    """

    def __init__(self, name: str, config_file: Path, root: Path) -> None:
        self.name = name
        self.config_file = config_file
        self.root = root
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the node (returns at once; see :meth:`wait_healthy`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {
            **os.environ,
            "ZALOGATE_CONFIG": str(self.config_file),
            "ZALOGATE_STATE_DIR": str(self.root / "state"),
            "ZALOGATE_NODE_ID": self.name,
            "PYTHONUNBUFFERED": "1",
        }
        with (self.root / "stderr.log").open("ab") as err:
            self.process = subprocess.Popen(  # noqa: S603 - this Python, our own module
                [sys.executable, "-m", "zalogate", "gateway", "run", "--port", str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def health(self) -> dict[str, Any] | None:
        """The ``/healthz`` body, or None when the node does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:  # noqa: S310
                body: dict[str, Any] = json.loads(answer.read())
                return body
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def account_state(self) -> str | None:
        """The state of the node's first account (``running``, ``standby``, ...)."""
        body = self.health()
        accounts = body.get("accounts") if body else None
        return str(accounts[0]["state"]) if accounts else None

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.health() is None:
            if not self.running:
                raise RuntimeError(f"gateway node {self.name} exited: {self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway node {self.name} not healthy: {self.stderr_tail()}")
            time.sleep(0.1)

    def wait_started(self, timeout: float = 60.0) -> None:
        """Wait until the node supervises its first account (``running`` or ``standby``):
        its inbox is started by then (``/healthz`` answers a little earlier)."""
        self.wait_healthy(timeout)
        deadline = time.monotonic() + timeout
        while self.account_state() not in {"running", "standby"}:
            if not self.running or time.monotonic() > deadline:
                raise RuntimeError(f"gateway node {self.name} did not start: {self.stderr_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no release of leases, no ack of what it was processing."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def stderr_tail(self, limit: int = 3000) -> str:
        try:
            return (self.root / "stderr.log").read_text(errors="replace")[-limit:]
        except OSError:
            return ""


BotCluster = tuple[FakeZaloBotApi, list[GatewayNode], Path]
"""The fake Bot API, the started nodes and the config file they share."""


@contextlib.asynccontextmanager
async def bot_cluster(
    cluster: dict[str, Any],
    root: Path,
    *,
    nodes: int = 2,
    zalo: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    messages: dict[str, Any] | None = None,
) -> AsyncIterator[BotCluster]:
    """``nodes`` gateway nodes on ``cluster`` (a ``gateway.cluster`` section) polling one fake
    bot (``zalo`` overrides its channel settings, ``gateway`` the gateway's, ``messages`` sets
    the ``messages`` section), started, and stopped on the way out."""
    async with FakeZaloBotApi() as fake, FakeLLMServer() as llm:
        config = cluster_bot_config(
            cluster,
            bot_tokens=[fake.token],
            bot_api_url=fake.base_url,
            llm_url=llm.base_url,
            llm_model=llm.model,
        )
        config["channels"]["zalo"].update(zalo or {})
        config["gateway"].update(gateway or {})
        if messages is not None:
            config["messages"] = messages
        config_file = root / "zalogate.json"
        config_file.write_text(json.dumps(config))
        started = [GatewayNode(f"node{i}", config_file, root / f"node{i}") for i in range(nodes)]
        try:
            for node in started:
                node.start()
            for node in started:
                await asyncio.to_thread(node.wait_started)
            yield fake, started, config_file
        finally:
            for node in started:
                await asyncio.to_thread(node.stop)


async def wait_for(what: str, check: Callable[[], bool], nodes: Sequence[GatewayNode]) -> None:
    """Wait until ``check()`` (at most a minute); else fail with the nodes' stderr tails."""
    deadline = time.monotonic() + 60.0
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {n.name}\n{n.stderr_tail(1500)}" for n in nodes)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.1)


def run_cli(config_file: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``zalogate <args>`` as its own process with the nodes' config and a state dir of its
    own (``root``): a command run on a machine that is not a node."""
    env = {
        **os.environ,
        "ZALOGATE_CONFIG": str(config_file),
        "ZALOGATE_STATE_DIR": str(root),
        "ZALOGATE_NODE_ID": "cli",  # the shared config names each node from its environment
    }
    return subprocess.run(  # noqa: S603 - this Python, our own module
        [sys.executable, "-m", "zalogate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
