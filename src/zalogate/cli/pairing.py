"""`zalogate pairing`: List and approve DM pairing requests."""

from __future__ import annotations

import typer

app = typer.Typer(help="List and approve DM pairing requests.", no_args_is_help=True)
