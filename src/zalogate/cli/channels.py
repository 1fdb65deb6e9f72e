"""`zalogate channels`: Channel accounts: list, status, login, logout."""

from __future__ import annotations

import typer

app = typer.Typer(help="Channel accounts: list, status, login, logout.", no_args_is_help=True)
