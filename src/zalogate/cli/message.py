"""`zalogate message`: Send messages through a channel."""

from __future__ import annotations

import typer

app = typer.Typer(help="Send messages through a channel.", no_args_is_help=True)
