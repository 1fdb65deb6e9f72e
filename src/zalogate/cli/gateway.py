"""`zalogate gateway`: Run the gateway."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the gateway.", no_args_is_help=True)
