"""The installed package: version, entry points, ``python -m zalogate``, typed marker."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata, resources

import zalogate
from zalogate.core.channel import ENTRY_POINT_GROUP


def test_version_matches_distribution_metadata() -> None:
    assert metadata.version("zalogate") == zalogate.__version__


def test_package_ships_py_typed_marker() -> None:
    assert resources.files("zalogate").joinpath("py.typed").is_file()


def test_builtin_channels_are_registered_as_entry_points() -> None:
    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"zalo", "zalouser"} <= names


def test_python_dash_m_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zalogate", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"zalogate {zalogate.__version__}"
