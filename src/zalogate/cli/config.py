"""`zalogate config`: Check, show and create the config file."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check, show and create the config file.", no_args_is_help=True)
