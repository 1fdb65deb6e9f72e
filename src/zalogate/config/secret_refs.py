"""OpenClaw's SecretInput refs: ``{source: "env"|"file", provider: "default", id: "..."}``.

A secret field (``botToken``, ``webhookSecret``, ``apiKey``) may hold a plain string or a ref.
Refs are resolved once, at load time, into plain strings: ``env`` reads the variable, ``file``
reads a regular file that is not a symlink (trailing whitespace stripped). ``exec`` and
``store`` sources and other providers are not supported and say so.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zalogate.config.problems import KeyPath, Problem, problem

__all__ = ["SECRET_PATHS", "SecretResolution", "resolve_secret_refs"]

_ANY = "*"
SECRET_PATHS: tuple[tuple[str, ...], ...] = (
    ("channels", "zalo", "botToken"),
    ("channels", "zalo", "webhookSecret"),
    ("channels", "zalo", "accounts", _ANY, "botToken"),
    ("channels", "zalo", "accounts", _ANY, "webhookSecret"),
    ("agent", "openai", "apiKey"),
)
"""Where refs are accepted (``*`` is any account id)."""

_REF_KEYS = frozenset({"source", "provider", "id"})
_MAX_SECRET_FILE = 64 * 1024


@dataclass(slots=True)
class SecretResolution:
    """The data with refs replaced by strings, and the problems met."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    failed_paths: set[KeyPath] = field(default_factory=set)


def resolve_secret_refs(
    data: Any, env: Mapping[str, str], *, base_dir: Path | None = None
) -> SecretResolution:
    """Replace every SecretInput ref at :data:`SECRET_PATHS` with the secret it names.

    Args:
        data: The raw (already substituted) config; not modified.
        env: The environment for ``env`` refs.
        base_dir: Relative ``file`` ref ids are relative to this folder (the config's).
    """
    resolution = SecretResolution(data=data)
    if not isinstance(data, Mapping):
        return resolution
    resolution.data = _copy(data)
    for pattern in SECRET_PATHS:
        for path, holder, key in _locate(resolution.data, pattern):
            value = holder[key]
            if not isinstance(value, Mapping) or "source" not in value:
                continue
            secret = _resolve(value, path, env, base_dir, resolution)
            if secret is None:
                resolution.failed_paths.add(path)
                holder[key] = ""  # keeps later checks quiet; the problem is already reported
            else:
                holder[key] = secret
    return resolution


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _locate(
    data: dict[str, Any], pattern: tuple[str, ...]
) -> list[tuple[KeyPath, dict[str, Any], str]]:
    found: list[tuple[KeyPath, dict[str, Any], str]] = []

    def walk(node: Any, index: int, path: KeyPath) -> None:
        if not isinstance(node, dict):
            return
        part = pattern[index]
        keys = list(node) if part == _ANY else [part]
        for key in keys:
            if key not in node:
                continue
            if index == len(pattern) - 1:
                found.append(((*path, key), node, key))
            else:
                walk(node[key], index + 1, (*path, key))

    walk(data, 0, ())
    return found


def _resolve(
    ref: Mapping[str, Any],
    path: KeyPath,
    env: Mapping[str, str],
    base_dir: Path | None,
    resolution: SecretResolution,
) -> str | None:
    def fail(message: str) -> None:
        resolution.problems.append(problem(path, message))

    unknown = sorted(set(ref) - _REF_KEYS)
    if unknown:
        fail(f"unknown key(s) in secret ref: {', '.join(map(str, unknown))}")
        return None
    source, provider, ref_id = ref.get("source"), ref.get("provider", "default"), ref.get("id")
    if provider != "default":
        fail(f'secret provider {provider!r} is not supported (use "default")')
        return None
    if not isinstance(ref_id, str) or not ref_id.strip():
        fail("secret ref needs a non-empty string id")
        return None
    ref_id = ref_id.strip()
    if source == "env":
        value = env.get(ref_id)
        if value is None or not value.strip():
            fail(f"environment variable {ref_id} is {'not set' if value is None else 'empty'}")
            return None
        return value.strip()
    if source == "file":
        return _read_secret_file(ref_id, base_dir, env, fail)
    fail(f'secret source {source!r} is not supported (use "env" or "file")')
    return None


def _read_secret_file(
    raw_path: str, base_dir: Path | None, env: Mapping[str, str], fail: Any
) -> str | None:
    path = Path(_expand_home(raw_path, env))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        info = os.lstat(path)
    except OSError as exc:
        fail(f"secret file {path} cannot be read ({exc.strerror or type(exc).__name__})")
        return None
    if stat.S_ISLNK(info.st_mode):
        fail(f"secret file {path} must not be a symlink")
        return None
    if not stat.S_ISREG(info.st_mode):
        fail(f"secret file {path} is not a regular file")
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        fail(f"secret file {path} cannot be read ({exc.strerror or type(exc).__name__})")
        return None
    if len(raw) > _MAX_SECRET_FILE:
        fail(f"secret file {path} is larger than {_MAX_SECRET_FILE} bytes")
        return None
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        fail(f"secret file {path} is empty")
        return None
    return text


def _expand_home(raw: str, env: Mapping[str, str]) -> str:
    if raw == "~" or raw.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        return home + raw[1:]
    return raw
