"""`zalogate console`: print (and open) a one-time login link to the running gateway's
operator console (``/console``)."""

from __future__ import annotations

import asyncio
import webbrowser
from typing import Annotated

import typer

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import configured_gateway_url, resolve_state_dir
from zalogate.cli.state import err_console, get_state, out_console
from zalogate.config import ZalogateConfig
from zalogate.console.auth import LINK_TTL_S, login_link
from zalogate.runtime.control import read_token_file, token_path
from zalogate.runtime.wiring import cluster_link_key

__all__ = ["command"]


def command(
    ctx: typer.Context,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the link in this machine's web browser.")
    ] = False,
    host: Annotated[str | None, typer.Option("--host", help="Gateway address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Gateway port.")] = None,
) -> None:
    """Print a one-time login link to the operator console of the running gateway."""
    state_dir, config = resolve_state_dir(get_state(ctx))
    console_settings = config.gateway.console if config is not None else None
    if console_settings is not None and not console_settings.enabled:
        raise CliError("the console is off (gateway.console.enabled is false in the config)")
    token = _cluster_key(config) if config is not None else None
    where = "on any node of the cluster" if token else "from this machine"
    token = token or read_token_file(state_dir)
    if not token:
        raise CliError(
            f"no running gateway found: {token_path(state_dir)} is missing"
            " (start one with `zalogate gateway run`)"
        )
    link = login_link(configured_gateway_url(config, host=host, port=port), token)
    out_console.print(link, markup=False, soft_wrap=True)
    err_console.print(
        f"The link works once, within {LINK_TTL_S // 60} minutes, {where}.", markup=False
    )
    if open_browser and not webbrowser.open(link):
        err_console.print("No web browser could be opened; copy the link.", markup=False)


def _cluster_key(config: ZalogateConfig) -> str | None:
    """The cluster's link key (one key for every node) when the config has
    ``gateway.cluster``; None on a single node."""
    if config.gateway.cluster is None:
        return None
    try:
        return asyncio.run(cluster_link_key(config, name="zalogate-cli"))
    except ConnectionError as exc:
        raise CliError(str(exc)) from None
