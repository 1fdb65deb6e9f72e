"""`zalogate doctor`."""

from __future__ import annotations

import typer

from zalogate.cli.errors import CliError


def command(ctx: typer.Context) -> None:
    """Filled in by a later change."""
    raise CliError("`zalogate doctor` is not available in this build yet")
