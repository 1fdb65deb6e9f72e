"""Gateway nodes in the test's own process, joined to a cluster (for tests that reach into a
node: its channels, status board and HTTP routes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from zalogate.agents.echo import EchoAgent
from zalogate.config import parse_config
from zalogate.core.channel import ChannelPlugin
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState


@contextlib.asynccontextmanager
async def cluster_node(
    cluster: dict[str, Any],
    name: str,
    root: Path,
    channels: dict[str, Any],
    plugin: ChannelPlugin,
    **options: Any,
) -> AsyncIterator[Gateway]:
    """A started node ``name`` (state in ``root/name``) with the ``channels`` section and an
    echo agent (``options``: more ``Gateway`` arguments, or other values)."""
    config = {
        "gateway": {"host": "127.0.0.1", "port": 0, "cluster": {**cluster, "nodeId": name}},
        "channels": channels,
    }
    settings: dict[str, Any] = {
        "console_log": False,
        "configure_logs": False,
        "startup_grace": 0.05,
        "shutdown_timeout": 3.0,
        **options,
    }
    gateway = Gateway(
        parse_config(config, env={}),
        state_dir=root / name,
        channels=[plugin],
        agent=EchoAgent(),
        http_port=0,
        **settings,
    )
    async with gateway:
        yield gateway


async def until(check: Any) -> None:
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.02)


def account_state(gateway: Gateway, channel: str) -> AccountState | None:
    """The state of ``channel``'s default account on ``gateway``."""
    record = gateway.status_board.get(channel, "default")
    return record.state if record is not None else None
