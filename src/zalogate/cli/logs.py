"""`zalogate logs`: print (and follow) the gateway log from the state dir."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import resolve_state_dir
from zalogate.cli.options import JsonOpt
from zalogate.cli.state import get_state, print_json
from zalogate.runtime.logging import gateway_log_path

__all__ = ["command", "follow", "tail_lines"]

_POLL_SECONDS = 0.25


def command(
    ctx: typer.Context,
    follow_log: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    lines: Annotated[
        int,
        typer.Option(
            "--limit", "-n", "--lines", min=0, help="At most N entries. The last lines of the log."
        ),
    ] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Show the gateway log from the state dir."""
    if as_json and follow_log:
        raise CliError("--json prints the lines once; leave out --follow", exit_code=2)
    state_dir, _ = resolve_state_dir(get_state(ctx))
    path = gateway_log_path(state_dir)
    if not path.exists():
        raise CliError(
            f"no gateway log yet at {path} (it is written by `zalogate gateway run`)",
        )
    if as_json:
        kept = [line.rstrip("\n") for line in tail_lines(path, lines)]
        print_json({"path": str(path), "lines": kept})
        return
    out = sys.stdout
    for line in tail_lines(path, lines):
        out.write(line)
    out.flush()
    if follow_log:
        try:
            follow(path, out)
        except KeyboardInterrupt:
            return


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path`` (with their line ends)."""
    if count <= 0:
        return []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return list(deque(handle, maxlen=count))


def follow(
    path: Path,
    out: TextIO,
    *,
    poll: float = _POLL_SECONDS,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Print lines appended to ``path`` until ``should_stop()`` (or Ctrl-C).

    Follows the file across rotation (a new file at ``path``) and truncation.
    """
    handle = path.open("r", encoding="utf-8", errors="replace")
    try:
        handle.seek(0, 2)
        inode = path.stat().st_ino
        while should_stop is None or not should_stop():
            line = handle.readline()
            if line:
                out.write(line)
                out.flush()
                continue
            time.sleep(poll)
            try:
                current = path.stat()
            except FileNotFoundError:
                continue
            if current.st_ino != inode or current.st_size < handle.tell():
                # Rotated or truncated: read the new file from its start.
                handle.close()
                handle = path.open("r", encoding="utf-8", errors="replace")
                inode = current.st_ino
    finally:
        handle.close()
