"""`zalogate plugins`: List, enable, disable and install channel plugins."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, enable, disable and install channel plugins.", no_args_is_help=True)
