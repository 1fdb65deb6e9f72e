"""The MCP server (``zalogate mcp``): channel agent tools for any MCP-capable agent.

The ``mcp`` SDK is an optional extra (``pip install 'zalogate[mcp]'``); this package imports
it only when serving.
"""

from __future__ import annotations

from zalogate.mcp.server import (
    ACCOUNT_ARGUMENT,
    ChannelToolbox,
    ListedTool,
    McpUnavailableError,
    build_server,
    open_channels,
    require_mcp,
    run_stdio_server,
    serve_stdio,
)

__all__ = [
    "ACCOUNT_ARGUMENT",
    "ChannelToolbox",
    "ListedTool",
    "McpUnavailableError",
    "build_server",
    "open_channels",
    "require_mcp",
    "run_stdio_server",
    "serve_stdio",
]
