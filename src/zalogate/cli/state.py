"""What the root command hands every sub-command: the config path, verbosity, output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

__all__ = ["CliState", "err_console", "get_state", "out_console", "print_json"]

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(slots=True)
class CliState:
    """Options of the root command (``--config``, ``--verbose``)."""

    config_path: Path | None = None
    verbose: bool = False


def get_state(ctx: typer.Context) -> CliState:
    """Return the root command's state from any sub-command's context."""
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, CliState):
        state = CliState()
        root.obj = state
    return state


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (no colours, stable key order)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
