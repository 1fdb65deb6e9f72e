"""The bottom of the house: what the standalone packages may import of zalogate."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ALLOWED = {
    # Usable without the gateway: its own package and the ``net`` plumbing below it.
    "zalogate.botapi": ("zalogate.botapi", "zalogate.net", "zalogate.text"),
    "zalogate.oa": ("zalogate.oa", "zalogate.net", "zalogate.text"),
    "zalogate.personal": (
        "zalogate.personal",
        "zalogate.net",
        "zalogate.text",
        "zalogate.backoff",
    ),
    # The bottom layer: nothing else of ours.
    "zalogate.net": ("zalogate.net",),
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_standalone_package_imports_only_what_lies_below_it(package: str) -> None:
    package_dir = Path(importlib.import_module(package).__file__ or "").parent
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("zalogate"):
                    allowed = name.startswith(ALLOWED[package])
                    assert allowed, f"{path.name} imports {name}"
