"""`zalogate directory`: Look up yourself, peers and groups on a channel."""

from __future__ import annotations

import typer

app = typer.Typer(help="Look up yourself, peers and groups on a channel.", no_args_is_help=True)
