"""Finding, reading and validating the config file; where the state dir is.

Order of work: JSON5 -> ``${VAR}`` substitution -> SecretInput refs -> schema -> cross-key
rules. Every step reports all of its problems, and :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import json5
from pydantic import ValidationError

from zalogate.config.errors import ConfigError
from zalogate.config.problems import (
    KeyPath,
    Problem,
    describe_validation_error,
    in_file_order,
    problem,
)
from zalogate.config.rules import check_rules
from zalogate.config.schema import ZalogateConfig
from zalogate.config.secret_refs import resolve_secret_refs
from zalogate.config.substitution import substitute_env

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE_NAME",
    "PLUGIN_ENTRY_POINT_GROUP",
    "STATE_DIR_ENV",
    "config_path",
    "default_home_dir",
    "installed_channel_ids",
    "load_config",
    "parse_config",
    "state_dir",
]

CONFIG_ENV = "ZALOGATE_CONFIG"
STATE_DIR_ENV = "ZALOGATE_STATE_DIR"
CONFIG_FILE_NAME = "zalogate.json5"
PLUGIN_ENTRY_POINT_GROUP = "zalogate.channels"
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_ACCOUNT_ENV = ("ZALO_BOT_TOKEN",)


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _expand(raw: str | Path, env: Mapping[str, str]) -> Path:
    text = str(raw)
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        text = home + text[1:]
    return Path(text)


def default_home_dir(env: Mapping[str, str] | None = None) -> Path:
    """``~/.zalogate`` (``$HOME`` from ``env`` when given)."""
    return _expand("~/.zalogate", _environ(env))


def config_path(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``explicit`` -> ``$ZALOGATE_CONFIG`` -> ``~/.zalogate/zalogate.json5``."""
    environ = _environ(env)
    if explicit is not None:
        return _expand(explicit, environ)
    override = environ.get(CONFIG_ENV, "").strip()
    if override:
        return _expand(override, environ)
    return default_home_dir(environ) / CONFIG_FILE_NAME


def state_dir(config: ZalogateConfig, env: Mapping[str, str] | None = None) -> Path:
    """The state dir: ``gateway.stateDir`` -> ``$ZALOGATE_STATE_DIR`` -> ``~/.zalogate``.

    A relative ``gateway.stateDir`` is relative to the config file's folder. The folder is
    not created here (``zalogate.store`` creates it with mode 0700).
    """
    environ = _environ(env)
    configured = (config.gateway.state_dir or "").strip()
    if configured:
        path = _expand(configured, environ)
        source = config.source_path
        if not path.is_absolute() and source is not None:
            path = source.parent / path
        return path
    override = environ.get(STATE_DIR_ENV, "").strip()
    if override:
        return _expand(override, environ)
    return default_home_dir(environ)


def installed_channel_ids() -> set[str]:
    """Ids of the channel plugins installed in this environment (entry points)."""
    try:
        return {ep.name for ep in entry_points(group=PLUGIN_ENTRY_POINT_GROUP)}
    except Exception:  # a broken distribution must not make every config invalid
        return set()


def _has_plugin_sections(raw: Mapping[str, Any]) -> bool:
    channels = raw.get("channels")
    return isinstance(channels, Mapping) and any(
        key not in ("defaults", "zalo", "zalouser") for key in channels
    )


def _skip(path: KeyPath, failed: set[KeyPath]) -> bool:
    return any(path[: len(f)] == f for f in failed)


def parse_config(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    plugin_ids: Iterable[str] | None = None,
    base_dir: Path | None = None,
) -> ZalogateConfig:
    """Validate a config given as a mapping (same checks as :func:`load_config`).

    Args:
        data: The parsed file content.
        env: Environment for ``${VAR}`` and env secret refs; default ``os.environ``.
        source: Names the config in error messages.
        plugin_ids: Channel ids allowed besides ``zalo``/``zalouser``; default: installed.
        base_dir: Folder relative secret-file refs are read from.

    Raises:
        ConfigError: With every problem found.
    """
    environ = dict(_environ(env))
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: the config must be an object"], source=source)
    substituted = substitute_env(dict(data), environ)
    secrets = resolve_secret_refs(substituted.data, environ, base_dir=base_dir)
    failed = substituted.failed_paths | secrets.failed_paths
    problems: list[Problem] = [*substituted.problems, *secrets.problems]
    raw: dict[str, Any] = secrets.data
    config: ZalogateConfig | None = None
    try:
        config = ZalogateConfig.model_validate(raw)
    except ValidationError as exc:
        for path, message in describe_validation_error(exc, ZalogateConfig):
            if not _skip(path, failed):
                problems.append(problem(path, message))
    if plugin_ids is not None:
        ids = set(plugin_ids)
    elif _has_plugin_sections(raw):
        ids = installed_channel_ids()  # scanning entry points costs ~10 ms: only when needed
    else:
        ids = set()
    problems += [p for p in check_rules(raw, environ, ids) if not _skip(p.path, failed)]
    if problems or config is None:
        raise ConfigError(in_file_order(problems, raw), source=source)
    # Keep only what account resolution reads, not the whole (secret-laden) environment.
    config._env = {k: environ[k] for k in _ACCOUNT_ENV if k in environ}
    return config


def read_json5_object(path: Path) -> dict[str, Any]:
    """The JSON5 object in ``path``, unvalidated (the sandbox and importers read other files).

    Raises:
        FileNotFoundError: There is no file at ``path``.
        ValueError: It cannot be read, is not JSON5, or not an object (one line naming it).
    """
    try:
        data = json5.loads(path.expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON5 ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the file must hold an object ({{...}})")
    return data


def _read(path: Path) -> str:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"], source=str(path)) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"], source=str(path)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError([f"{path}: not a regular file"], source=str(path))
    if info.st_size > _MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: larger than 4 MiB"], source=str(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"], source=str(path)) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"], source=str(path)) from None


def _parse_json5(text: str, path: Path) -> Any:
    try:
        return json5.loads(text, allow_duplicate_keys=False)
    except ValueError as exc:
        message = str(exc).replace("<string>:", "line ", 1)
        raise ConfigError([f"{path}: invalid JSON5: {message}"], source=str(path)) from None


def load_config(
    path: Path | None = None, *, env: Mapping[str, str] | None = None
) -> ZalogateConfig:
    """Load and validate the config file.

    ``path`` None -> ``$ZALOGATE_CONFIG`` -> ``~/.zalogate/zalogate.json5``. A missing default
    file gives the safe defaults; a missing file that was named explicitly (argument or
    ``$ZALOGATE_CONFIG``) is an error.

    Raises:
        ConfigError: With every problem found.
    """
    environ = _environ(env)
    explicit = path is not None or bool(environ.get(CONFIG_ENV, "").strip())
    file = config_path(path, environ)
    if not explicit and not file.exists():
        return parse_config({}, env=environ, source=str(file))
    data = _parse_json5(_read(file), file)
    if not isinstance(data, dict):
        raise ConfigError([f"{file}: the config must be an object ({{...}})"], source=str(file))
    config = parse_config(data, env=environ, source=str(file), base_dir=file.parent)
    config._source = file
    return config
