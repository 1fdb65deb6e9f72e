"""`zalogate mcp`: serve the channels' agent tools to an MCP client over stdio.

stdout carries the MCP protocol, so everything else (logs, config problems) goes to stderr.
"""

from __future__ import annotations

import asyncio

import typer

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import load_runtime_config
from zalogate.cli.state import get_state
from zalogate.mcp.server import McpUnavailableError, require_mcp, run_stdio_server
from zalogate.runtime.logging import configure_logging, reset_logging

__all__ = ["command"]


def command(ctx: typer.Context) -> None:
    """Run an MCP server on stdio exposing the Zalo tools (zalo_send, zalouser).

    Add it to an MCP client as the command `zalogate mcp` (see docs/mcp.md).
    """
    state = get_state(ctx)
    try:
        require_mcp()
    except McpUnavailableError as exc:
        raise CliError(str(exc)) from None
    config, state_dir = load_runtime_config(state)
    level = "debug" if state.verbose else config.gateway.log_level
    configure_logging(level, console=True)
    try:
        asyncio.run(run_stdio_server(config, state_dir))
    except KeyboardInterrupt:
        pass
    except ConnectionError as exc:  # gateway.cluster: NATS out of reach
        raise CliError(str(exc)) from None
    finally:
        reset_logging()
