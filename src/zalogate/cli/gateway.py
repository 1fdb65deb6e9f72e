"""`zalogate gateway`: run the gateway, or ask a running one how it is doing."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx2
import typer
from rich.table import Table

from zalogate.cli.errors import CliError
from zalogate.cli.state import CliState, err_console, get_state, out_console, print_json
from zalogate.config import ConfigError, ZalogateConfig, load_config, state_dir
from zalogate.runtime.endpoint import HEALTH_PATH, gateway_url
from zalogate.runtime.logging import redact

if TYPE_CHECKING:
    from zalogate.runtime.gateway import Gateway

__all__ = ["app", "load_runtime_config", "resolve_state_dir"]

app = typer.Typer(
    help="Run the gateway, or show the status of a running one.", no_args_is_help=True
)

_STATUS_TIMEOUT = 3.0


def load_runtime_config(state: CliState) -> tuple[ZalogateConfig, Path]:
    """Load and validate the config; return it with the state dir.

    Raises:
        CliError: The config is invalid (every problem is printed first).
    """
    try:
        return load_runtime_config_quietly(state)
    except ConfigError as exc:
        problems = [redact(problem) for problem in exc.problems]
        err_console.print("[red]The config is invalid:[/red]", markup=True)
        for problem in problems:
            err_console.print(f"  - {problem}", markup=False)
        raise CliError(f"fix the config ({len(problems)} problem(s)) and try again") from exc


def resolve_state_dir(state: CliState) -> tuple[Path, ZalogateConfig | None]:
    """The state dir from the config, or from the environment when the config is invalid.

    Diagnostic commands (``logs``, ``gateway status``) must work with a broken config.
    """
    try:
        config, state_dir = load_runtime_config_quietly(state)
    except Exception as exc:
        fallback = os.environ.get("ZALOGATE_STATE_DIR") or str(Path.home() / ".zalogate")
        err_console.print(
            f"warning: could not load the config ({redact(_first_line(exc))}); "
            f"using the state dir {fallback}",
            markup=False,
        )
        return Path(fallback).expanduser(), None
    return state_dir, config


def load_runtime_config_quietly(state: CliState) -> tuple[ZalogateConfig, Path]:
    """Like :func:`load_runtime_config` but without printing the problems."""
    env = dict(os.environ)
    config = load_config(state.config_path, env=env)
    return config, state_dir(config, env)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@app.command("run")
def run(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default from config).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port to listen on; 0 picks a free one."),
    ] = None,
    app_spec: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="Python handlers (module:router) in front of the agents; see docs/agents.md.",
        ),
    ] = None,
) -> None:
    """Run the gateway in the foreground until Ctrl-C or SIGTERM."""
    from zalogate.runtime import eventloop
    from zalogate.runtime.gateway import Gateway  # the whole runtime: only when running it

    state = get_state(ctx)
    config, state_dir = load_runtime_config(state)
    front = _load_app(app_spec) if app_spec else None
    gateway = Gateway(
        config,
        state_dir=state_dir,
        http_host=host,
        http_port=port,
        handle_signals=True,
        log_level="debug" if state.verbose else None,
        app=front,
    )
    try:
        factory = eventloop.loop_factory()  # uvloop unless ZALOGATE_EVENT_LOOP=asyncio
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_serve(gateway))
    except OSError as exc:
        raise CliError(redact(str(exc))) from exc


def _load_app(spec: str) -> Any:
    """The handlers' router; the current directory is importable (as for uvicorn's apps)."""
    from zalogate.handlers import load_router

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return load_router(spec)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


async def _serve(gateway: Gateway) -> None:
    async with gateway:
        err_console.print(f"zalogate gateway listening on {gateway.url}", markup=False)
        err_console.print(f"log file: {gateway.log_file}", markup=False)
        err_console.print("press Ctrl-C to stop", markup=False)
        await gateway.wait()
    err_console.print("gateway stopped", markup=False)


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw status as JSON.")] = False,
    host: Annotated[str | None, typer.Option("--host", help="Gateway address to ask.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Gateway port to ask.")] = None,
) -> None:
    """Show the channel accounts of a running gateway (from its /healthz endpoint)."""
    state = get_state(ctx)
    _, config = resolve_state_dir(state)
    base = configured_gateway_url(config, host=host, port=port)
    try:
        response = httpx2.get(base + HEALTH_PATH, timeout=_STATUS_TIMEOUT)
        response.raise_for_status()
        body = response.json()
    except httpx2.ConnectError as exc:
        raise CliError(
            f"no gateway is running at {base} (start one with `zalogate gateway run`)"
        ) from exc
    except (httpx2.HTTPError, ValueError) as exc:
        raise CliError(f"the gateway at {base} did not answer properly: {exc}") from exc
    if as_json:
        print_json(body)
        return
    accounts = body.get("accounts") or []
    out_console.print(f"gateway at {base}: ok (version {body.get('version', '?')})")
    if not accounts:
        out_console.print("no channel account is running")
        return
    table = Table("channel", "account", "state", "last inbound", "last outbound", "last error")
    for account in accounts:
        table.add_row(
            str(account.get("channel", "")),
            str(account.get("account", "")),
            str(account.get("state", "")),
            _when(account.get("lastInboundAt")),
            _when(account.get("lastOutboundAt")),
            str(account.get("lastError") or ""),
        )
    out_console.print(table)
    for account in accounts:
        if account.get("reason"):  # why it was stopped, e.g. by channels logout
            out_console.print(
                f"{account.get('channel', '')}/{account.get('account', '')}: {account['reason']}",
                markup=False,
            )


def configured_gateway_url(
    config: ZalogateConfig | None, *, host: str | None = None, port: int | None = None
) -> str:
    """The URL of the gateway ``config`` describes; ``host``/``port`` override it.

    A config port of 0 (a free port, picked at start) cannot be guessed: the default is used.
    """
    gateway = config.gateway if config is not None else None
    return gateway_url(
        host or (gateway.host if gateway else None),
        port if port is not None else (gateway.port if gateway else None) or None,
    )


HEALTH_TIMEOUT = 1.5
"""Seconds the CLI waits for a gateway's ``/healthz`` before deciding none runs."""


async def gateway_health(url: str, timeout_s: float = HEALTH_TIMEOUT) -> dict[str, Any] | None:
    """The ``/healthz`` body of the zalogate gateway at ``url``, or None when none answers
    (nothing listening, another server, a bad answer). Proxies from the environment are not
    used: the gateway is on this machine."""
    try:
        async with httpx2.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            response = await client.get(url + HEALTH_PATH)
        body = response.json() if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError, OSError):
        return None
    return body if isinstance(body, dict) and body.get("ok") is True else None


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
