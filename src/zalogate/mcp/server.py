"""The MCP server: the agent tools of every configured channel, over stdio.

``zalogate mcp`` runs :func:`run_stdio_server`: it loads the configured channel plugins the
way the gateway does (``plugins`` rules, ``channels.<id>`` written and enabled), gives them
the state dir's store and an inbox that refuses messages (no monitor runs here), and serves
what their :class:`~zalogate.core.channel.Tools` capability offers: ``zalo_send`` for the Bot
API channel, ``zalouser`` for a personal account.

Tool names are the channels' own and stay stable. Every tool gets one more optional
argument, ``accountId``, that picks the channel account (default: the first enabled account
offering the tool, which is the default account when it can act). A result is the tool's JSON
object, both as text (2-space JSON) and as structured content; ``{"error": ...}`` results are
marked ``isError``. Known secrets are redacted from results.

The SDK is imported only when serving (optional extra ``zalogate[mcp]``); the tool catalogue
(:class:`ChannelToolbox`) has no SDK dependency and is tested on its own.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zalogate import __version__
from zalogate.config import normalize_account_id
from zalogate.core.agent import AgentTool
from zalogate.core.channel import (
    Admission,
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
)
from zalogate.core.model import InboundMessage
from zalogate.runtime.logging import redact, register_secret
from zalogate.runtime.secrets import collect_secrets, register_secret_values
from zalogate.runtime.wiring import cluster_one_off, configured_plugins
from zalogate.store import Store

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

log = logging.getLogger("zalogate.mcp")

ACCOUNT_ARGUMENT = "accountId"
SERVER_NAME = "zalogate"
INSTALL_HINT = "pip install 'zalogate[mcp]'"


class McpUnavailableError(RuntimeError):
    """The ``mcp`` SDK is not installed."""


def require_mcp() -> None:
    """Raise :class:`McpUnavailableError` (with the install command) without the SDK."""
    try:
        importlib.import_module("mcp.server.lowlevel")
        importlib.import_module("mcp.server.stdio")
    except ImportError as exc:
        message = f"the MCP server needs the mcp package: {INSTALL_HINT}"
        raise McpUnavailableError(message) from exc


@dataclass(frozen=True, slots=True)
class ListedTool:
    """One tool as MCP clients see it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    channel: str
    accounts: tuple[str, ...]
    title: str | None = None


class ChannelToolbox:
    """The agent tools of some channels, across their enabled accounts.

    Args:
        channels: The channels; those whose ``agent_tools`` hook returns nothing offer nothing.
    """

    def __init__(self, channels: Iterable[Channel]) -> None:
        self._channels = list(channels)

    def list_tools(self) -> list[ListedTool]:
        """Every offered tool, once, in channel order; a name two channels offer is kept once."""
        found: dict[str, ListedTool] = {}
        for channel in self._channels:
            offered: dict[str, tuple[AgentTool, list[str]]] = {}
            for account in _enabled(channel):
                for tool in _tools_of(channel, account):
                    entry = offered.setdefault(tool.name, (tool, []))
                    entry[1].append(account.account_id)
            for name, (tool, accounts) in offered.items():
                if name in found:
                    log.warning(
                        "tool %s of channel %s is hidden: channel %s offers a tool of that name",
                        name,
                        channel.id,
                        found[name].channel,
                    )
                    continue
                found[name] = ListedTool(
                    name=name,
                    description=tool.description,
                    input_schema=_with_account_argument(tool.parameters, channel.id, accounts),
                    channel=channel.id,
                    accounts=tuple(accounts),
                    title=getattr(tool, "title", None),
                )
        return list(found.values())

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Run tool ``name``; every failure (unknown tool or account too) is ``{"error"}``.

        Registered secrets (tokens, cookies) are redacted from the result.
        """
        return _redacted(await self._call(name, arguments))

    async def _call(self, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        args = dict(arguments or {})
        listed = {t.name: t for t in self.list_tools()}
        entry = listed.get(name)
        if entry is None:
            known = ", ".join(listed) or "none"
            return {"error": f"unknown tool {name!r} (tools: {known})"}
        channel = next(c for c in self._channels if c.id == entry.channel)
        requested = args.pop(ACCOUNT_ARGUMENT, None)
        if requested is not None and not isinstance(requested, str):
            return {"error": f"{ACCOUNT_ARGUMENT} must be a string"}
        if requested:
            account_id = normalize_account_id(requested)
            if account_id not in entry.accounts:
                configured = {a.account_id: a for a in channel.accounts()}
                if account_id in configured:
                    problem = "is disabled" if not configured[account_id].enabled else "cannot act"
                    return {"error": f"{channel.id} account {account_id!r} {problem}"}
                choices = ", ".join(entry.accounts)
                return {
                    "error": f"unknown {channel.id} account {account_id!r} (accounts: {choices})"
                }
        else:
            account_id = entry.accounts[0]
        account = next(a for a in channel.accounts() if a.account_id == account_id)
        tool = next((t for t in _tools_of(channel, account) if t.name == name), None)
        if tool is None:  # the channel changed its mind since listing
            return {"error": f"{channel.id} account {account_id!r} does not offer {name}"}
        try:
            return dict(await tool.call(args))
        except Exception as exc:  # a tool must not take the server down
            log.warning("tool %s failed: %s", name, type(exc).__name__)
            return {"error": f"{type(exc).__name__}: {exc}"}


def _redacted(result: Mapping[str, Any]) -> dict[str, Any]:
    # Round-tripped through JSON so that what is sent is exactly what was checked.
    cleaned = redact(json.dumps(result, ensure_ascii=False, default=str))
    try:
        redacted: dict[str, Any] = json.loads(cleaned)
    except ValueError:  # a redaction broke the JSON: keep only what is safe to show
        return {"error": "the result held a secret and was withheld"}
    return redacted


def _enabled(channel: Channel) -> list[ChannelAccount]:
    return [a for a in channel.accounts() if a.enabled]


def _tools_of(channel: Channel, account: ChannelAccount) -> Sequence[AgentTool]:
    return channel.agent_tools(account, None)


def _with_account_argument(
    schema: Mapping[str, Any], channel_id: str, accounts: Sequence[str]
) -> dict[str, Any]:
    result = json.loads(json.dumps(schema))  # a deep copy the tool cannot see
    properties = result.setdefault("properties", {})
    properties.setdefault(
        ACCOUNT_ARGUMENT,
        {
            "type": "string",
            "description": (
                f"The {channel_id} account to act as (default: {accounts[0]!r}). "
                f"Accounts: {', '.join(accounts)}."
            ),
        },
    )
    return dict(result)


# -- channels, as the MCP server builds them ---------------------------------------------------


class _NoInbox:
    """The inbox of a process that runs no monitor."""

    async def admit(self, message: InboundMessage) -> Admission:
        raise RuntimeError("the MCP server does not receive messages")


@contextlib.asynccontextmanager
async def open_channels(
    config: Any,
    state_dir: Path,
    *,
    plugins: Sequence[ChannelPlugin] | None = None,
) -> AsyncIterator[list[Channel]]:
    """Open the store and create the configured channels (no monitors); close them after.

    Args:
        config: The validated root config.
        state_dir: The state dir (its store holds credentials and allow lists).
        plugins: The plugins to create; default :func:`zalogate.runtime.gateway.configured_plugins`.

    In a cluster (``gateway.cluster``), what a channel does from an account's session is done
    by the node running the account when its traits ask for it (a personal account: this
    process is never a second client of it while a node runs it), and a channel whose
    credentials rotate uses the cluster's shared grant (an OA: never a refresh of its own).

    Raises:
        ConnectionError: In a cluster, NATS cannot be reached.
    """
    for secret in collect_secrets(config):
        register_secret(secret)
    chosen = list(plugins) if plugins is not None else configured_plugins(config, state_dir)
    one_off = cluster_one_off(config, [p.id for p in chosen], name="zalogate:mcp", acts=True)
    async with one_off as cluster, await Store.open(state_dir) as store:
        channels: list[Channel] = []
        try:
            for plugin in chosen:
                context = ChannelContext(
                    config=config,
                    state_dir=state_dir,
                    store=store,
                    inbox=_NoInbox(),
                    logger=logging.getLogger(f"zalogate.channels.{plugin.id}"),
                    token_stores=cluster.token_stores,
                )
                channel = plugin.create(context)
                for account in channel.accounts():
                    register_secret_values(account.settings)
                channels.append(cluster.route(channel))
            yield channels
        finally:
            for channel in reversed(channels):
                await _close(channel)


async def _close(channel: Channel) -> None:
    try:
        await channel.aclose()
    except Exception as exc:
        log.warning("closing channel %s failed: %s", channel.id, redact(str(exc)))


# -- the MCP SDK adapter ----------------------------------------------------------------------


def build_server(toolbox: ChannelToolbox) -> Any:
    """An MCP SDK ``Server`` (``mcp.server.lowlevel``) serving ``toolbox``'s tools.

    Works with the SDK's 2.x handler API and its 1.x decorator API.
    """
    require_mcp()
    import mcp.types as types
    from mcp.server.lowlevel import Server

    def mcp_tools() -> list[Any]:
        tools = []
        for listed in toolbox.list_tools():
            spec: dict[str, Any] = {
                "name": listed.name,
                "description": listed.description,
                "inputSchema": listed.input_schema,
            }
            if listed.title:
                spec["title"] = listed.title
            tools.append(types.Tool.model_validate(spec))
        return tools

    async def run_tool(name: str, arguments: Mapping[str, Any] | None) -> Any:
        result = await toolbox.call(name, arguments)
        text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
        return types.CallToolResult.model_validate(
            {
                "content": [{"type": "text", "text": text}],
                "structuredContent": result,
                "isError": "error" in result,
            }
        )

    if hasattr(Server, "list_tools"):  # mcp 1.x: handlers are registered by decorators
        return _build_v1_server(Server, types, mcp_tools, run_tool)

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult.model_validate({"tools": mcp_tools()})

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        return await run_tool(params.name, params.arguments)

    server_class: Any = Server
    return server_class(
        SERVER_NAME,
        version=__version__,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _build_v1_server(server_class: Any, types: Any, mcp_tools: Any, run_tool: Any) -> Any:
    try:
        server = server_class(SERVER_NAME, version=__version__)
    except TypeError:  # the earliest 1.x servers took no version
        server = server_class(SERVER_NAME)

    @server.list_tools()  # type: ignore[untyped-decorator]
    async def list_tools() -> list[Any]:
        tools: list[Any] = mcp_tools()
        return tools

    try:
        # Our own checks answer in the reference's error shapes; the SDK's would not.
        decorator = server.call_tool(validate_input=False)
        structured = True  # 1.10 brought both input validation and structured results
    except TypeError:
        decorator = server.call_tool()
        structured = False

    @decorator  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any] | None) -> Any:
        result = await run_tool(name, arguments)
        if result.isError:
            # 1.x turns a raised exception into an isError result carrying its text.
            raise RuntimeError(result.content[0].text)
        if structured and result.structuredContent is not None:
            return (result.content, result.structuredContent)
        return result.content

    return server


async def serve_stdio(toolbox: ChannelToolbox) -> None:
    """Serve ``toolbox`` over stdin/stdout until the client closes the connection."""
    require_mcp()
    from mcp.server.stdio import stdio_server

    server = build_server(toolbox)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def run_stdio_server(
    config: Any, state_dir: Path, *, plugins: Sequence[ChannelPlugin] | None = None
) -> None:
    """Build the configured channels and serve their tools over stdio (``zalogate mcp``)."""
    require_mcp()
    async with open_channels(config, state_dir, plugins=plugins) as channels:
        toolbox = ChannelToolbox(channels)
        tools = toolbox.list_tools()
        if tools:
            log.info("MCP server offers: %s", ", ".join(t.name for t in tools))
        else:
            log.warning(
                "no channel account offers a tool: configure and enable a channel (channels.<id>)"
            )
        await serve_stdio(toolbox)
