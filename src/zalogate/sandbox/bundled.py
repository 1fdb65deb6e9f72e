"""The sandbox scripts shipped in the package (``zalogate sandbox --script pairing``)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["SCRIPT_SUFFIX", "bundled_script_names", "find_script"]

SCRIPT_SUFFIX = ".script"


def _scripts() -> Traversable:
    return resources.files("zalogate.sandbox").joinpath("scripts")


def bundled_script_names() -> list[str]:
    """The names of the bundled scripts (``pairing``, ``group``, ...), sorted."""
    return sorted(
        entry.name.removesuffix(SCRIPT_SUFFIX)
        for entry in _scripts().iterdir()
        if entry.name.endswith(SCRIPT_SUFFIX)
    )


def find_script(given: str) -> tuple[str, str] | None:
    """``(source, text)`` of the script ``given`` names: a file, else a bundled script.

    A bundled script is found by its name (``pairing``) or by a path ending in its file name
    (``examples/sandbox/pairing.script``, where older checkouts kept them). None: neither.

    Raises:
        OSError: The file exists but cannot be read.
    """
    path = Path(given).expanduser()
    if path.is_file():
        return str(path), path.read_text(encoding="utf-8")
    name = path.name.removesuffix(SCRIPT_SUFFIX)
    if name in bundled_script_names():
        entry = _scripts().joinpath(name + SCRIPT_SUFFIX)
        return f"{name} (bundled)", entry.read_text(encoding="utf-8")
    return None
