"""The ``zalogate`` command line (typer + rich)."""

from zalogate.cli.app import app, main

__all__ = ["app", "main"]
