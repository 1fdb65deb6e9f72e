"""The root ``zalogate`` command and the error boundary around every sub-command."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from zalogate import __version__
from zalogate.cli.errors import CliError
from zalogate.cli.options import CONFIG_HELP, tidy_command
from zalogate.cli.state import CliState, err_console

if TYPE_CHECKING:
    # typer vendors click (typer._click); only the annotations below name its classes.
    from typer._click import Command, Context

__all__ = ["app", "main"]


@dataclass(frozen=True, slots=True)
class _Subcommand:
    """Where a sub-command lives: a typer group (``app``) or one command function."""

    module: str
    attribute: str = "app"
    help: str | None = None

    def load(self, name: str) -> Command:
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            command: Command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name, help=self.help)(target)
            command = typer.main.get_command(single)
        command.name = name
        tidy_command(command)
        return command


# Sub-command modules import the runtime, channels, pydantic and the HTTP stack; importing
# them only when their command runs keeps `zalogate --version` and `zalogate config path` quick.
_SUBCOMMANDS: dict[str, _Subcommand] = {
    "config": _Subcommand("zalogate.cli.config"),
    "gateway": _Subcommand("zalogate.cli.gateway"),
    "channels": _Subcommand("zalogate.cli.channels"),
    "message": _Subcommand("zalogate.cli.message"),
    "agents": _Subcommand("zalogate.cli.agents"),
    "directory": _Subcommand("zalogate.cli.directory"),
    "pairing": _Subcommand("zalogate.cli.pairing"),
    "inbox": _Subcommand("zalogate.cli.inbox"),
    "plugins": _Subcommand("zalogate.cli.plugins"),
    "doctor": _Subcommand(
        "zalogate.cli.doctor",
        "command",
        "Check the config and the state dir; warn about risky policies.",
    ),
    "sandbox": _Subcommand(
        "zalogate.cli.sandbox",
        "command",
        "Chat with the gateway against a built-in Zalo simulator.",
    ),
    "mcp": _Subcommand(
        "zalogate.cli.mcp", "command", "Run an MCP server (stdio) that exposes Zalo tools."
    ),
    "logs": _Subcommand("zalogate.cli.logs", "command", "Show the gateway log from the state dir."),
    "import": _Subcommand("zalogate.cli.import_openclaw"),
    "console": _Subcommand(
        "zalogate.cli.console",
        "command",
        "Print a one-time login link to the running gateway's operator console.",
    ),
    "cluster": _Subcommand("zalogate.cli.cluster"),
}


class _LazyGroup(TyperGroup):
    """The root group: builds a sub-command from its module the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in _SUBCOMMANDS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _SUBCOMMANDS:
            command = _SUBCOMMANDS[cmd_name].load(cmd_name)
            self.add_command(command, cmd_name)
        return command


app = typer.Typer(
    cls=_LazyGroup,
    name="zalogate",
    help="Connect AI agents to Zalo: the official Bot API (zalo) and personal accounts (zalouser).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
            metavar="FILE",
            help=CONFIG_HELP,
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
    elif not logging.getLogger("zalogate").handlers:
        # A one-off command says what failed in its own error line; without this, Python's
        # last-resort handler would print the channel's warning about it first (twice said).
        # `gateway run` installs its own handlers (console and file).
        logging.getLogger("zalogate").addHandler(logging.NullHandler())


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
        from zalogate.runtime.logging import redact

        lines = str(exc).strip().splitlines()
        err_console.print("[red]error:[/red] ", markup=True, end="")
        err_console.print(redact(lines[0]) if lines else type(exc).__name__, markup=False)
        err_console.print("(run with --verbose for the full traceback)")
        sys.exit(1)
