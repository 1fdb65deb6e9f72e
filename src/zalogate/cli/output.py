"""Tables, one style for every command: plain text in aligned columns, never wrapped.

The same on a terminal and in a pipe (only the header is bold on a terminal), so ``grep`` and
``awk`` work and nothing is cut mid-word.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape

from zalogate.cli.state import out_console

__all__ = ["print_rows"]

_GAP = "  "


def print_rows(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> None:
    """Print ``rows`` under ``headers``, each column as wide as its widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        return _GAP.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    if title:
        out_console.print(title, markup=False)
    bold = out_console.is_terminal
    header = line(headers)
    out_console.print(f"[bold]{escape(header)}[/bold]" if bold else header, markup=bold)
    for row in rows:
        out_console.print(line(row), markup=False)
