"""The public surface of zalogate.net, and that it sits at the bottom of the house."""

from __future__ import annotations

import ast
from pathlib import Path

import zalogate.net

EXPECTED = {
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Answer",
    "Download",
    "DownloadError",
    "Downloader",
    "LeanTransport",
    "PinnedTransport",
    "RawHeaders",
    "RawResponse",
    "Resolver",
    "UnsafeUrlError",
    "UrlGuard",
    "VettedUrl",
    "pinned",
    "shared_tls_context",
    "system_resolver",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(zalogate.net.__all__) == EXPECTED
    assert len(zalogate.net.__all__) == len(EXPECTED)


def test_every_exported_class_belongs_here() -> None:
    for name in zalogate.net.__all__:
        member = getattr(zalogate.net, name)
        if isinstance(member, type):
            assert member.__module__.startswith("zalogate.net."), name


def test_net_imports_nothing_else_from_zalogate() -> None:
    package_dir = Path(zalogate.net.__file__).parent
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
                    assert name.startswith("zalogate.net"), f"{path.name} imports {name}"
