"""The root ``zalogate`` command and the error boundary around every sub-command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from zalogate import __version__
from zalogate.cli import (
    channels,
    config,
    directory,
    doctor,
    gateway,
    logs,
    mcp,
    message,
    pairing,
    plugins,
    sandbox,
)
from zalogate.cli.errors import CliError
from zalogate.cli.state import CliState, err_console

__all__ = ["app", "main"]

app = typer.Typer(
    name="zalogate",
    help="Connect AI agents to Zalo: the official Bot API (zalo) and personal accounts (zalouser).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zalogate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (JSON5). Default: $ZALOGATE_CONFIG or ~/.zalogate/zalogate.json5.",
            envvar="ZALOGATE_CONFIG",
            show_envvar=True,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logs and full tracebacks.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """zalogate command line."""
    ctx.obj = CliState(config_path=config_path, verbose=verbose)
    if verbose:
        logging.basicConfig(level=logging.DEBUG)


app.add_typer(config.app, name="config")
app.add_typer(gateway.app, name="gateway")
app.add_typer(channels.app, name="channels")
app.add_typer(message.app, name="message")
app.add_typer(directory.app, name="directory")
app.add_typer(pairing.app, name="pairing")
app.add_typer(plugins.app, name="plugins")
app.command("doctor", help="Check the config and the state dir; warn about risky policies.")(
    doctor.command
)
app.command(
    "sandbox", help="Chat with the gateway in the terminal against a built-in Zalo simulator."
)(sandbox.command)
app.command("mcp", help="Run an MCP server (stdio) that exposes Zalo tools.")(mcp.command)
app.command("logs", help="Show the gateway log from the state dir.")(logs.command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``zalogate`` console script: one clear line per error, no traceback.

    Typer handles usage errors itself (exit 2); our own errors and unexpected exceptions are
    printed as one line on stderr unless ``--verbose`` asks for the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or "-v" in args
    try:
        app(args=args, prog_name="zalogate", standalone_mode=True)
    except CliError as exc:
        if verbose:
            raise
        err_console.print("[red]error:[/red] ", markup=True, end="")
        err_console.print(str(exc), markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    except Exception as exc:
        if verbose:
            raise
        err_console.print("[red]error:[/red] ", markup=True, end="")
        err_console.print(f"{type(exc).__name__}: {exc}", markup=False)
        err_console.print("(run with --verbose for the full traceback)")
        sys.exit(1)
