"""`zalogate doctor`: check the config and the state dir; warn about risky policies.

Exit status 1 when any check is an error; warnings alone exit 0.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape

from zalogate.cli.channel_access import builtin_channel_ids
from zalogate.cli.config import ConfigOption, apply_config_option
from zalogate.cli.errors import CliError
from zalogate.cli.options import JsonOpt
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.config import (
    ConfigError,
    ZalogateConfig,
    config_path,
    load_config,
    resolve_accounts,
    state_dir,
)
from zalogate.config.loading import default_home_dir
from zalogate.core.inspection import ConfigInspector
from zalogate.runtime.logging import redact
from zalogate.runtime.plugins import PluginError, list_plugins, load_plugin
from zalogate.store import DATABASE_FILENAME
from zalogate.store.database import state_dir_problem

__all__ = ["Finding", "command", "run_checks"]

Level = Literal["ok", "warning", "error"]
_STYLES = {"ok": "green", "warning": "yellow", "error": "red"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One check result."""

    level: Level
    check: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"level": self.level, "check": self.check, "message": self.message}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _check_config(
    explicit: Path | None, env: Mapping[str, str], findings: list[Finding]
) -> ZalogateConfig | None:
    path = config_path(explicit, env)
    try:
        config = load_config(explicit, env=env)
    except ConfigError as exc:
        for item in exc.problems:
            findings.append(Finding("error", "config", redact(item)))
        return None
    if config.source_path is None:
        findings.append(
            Finding(
                "ok", "config", f"no file at {path}; using the defaults (`zalogate config init`)"
            )
        )
        return config
    findings.append(Finding("ok", "config", f"{path} is valid"))
    mode = _mode(path)
    if mode & 0o077:
        findings.append(
            Finding(
                "warning",
                "config",
                f"{path} is readable by other users (mode {mode:04o}) and may hold tokens; "
                f"run: chmod 600 {path}",
            )
        )
    return config


def _check_state_dir(directory: Path, findings: list[Finding]) -> None:
    blocker = next((p for p in directory.parents if p.exists()), None)
    if not directory.exists() and blocker is not None and not blocker.is_dir():
        error = NotADirectoryError(20, "Not a directory")
        findings.append(Finding("error", "state", state_dir_problem(directory, error)))
        return
    if not directory.exists() and not directory.is_symlink():
        findings.append(
            Finding("ok", "state", f"{directory} does not exist yet (created 0700 on first run)")
        )
        return
    if not directory.is_dir():
        findings.append(Finding("error", "state", f"{directory} is not a directory"))
        return
    mode = _mode(directory)
    if mode & 0o077:
        findings.append(
            Finding(
                "error",
                "state",
                f"{directory} has mode {mode:04o}; it must be 0700: chmod 700 {directory}",
            )
        )
    else:
        findings.append(Finding("ok", "state", f"{directory} (mode 0700)"))
    database = directory / DATABASE_FILENAME
    for path, is_dir in _walk_private(directory):
        mode = _mode(path)
        wanted, command = ("0700", "chmod 700") if is_dir else ("0600", "chmod 600")
        findings.append(
            Finding(
                "error",
                "state",
                f"{path} has mode {mode:04o}; it must be {wanted}: {command} {path}",
            )
        )
    if database.is_file() and not _mode(database) & 0o077:
        findings.append(Finding("ok", "state", f"{database} (mode 0600)"))


_WALK_LIMIT = 10_000


def _walk_private(directory: Path) -> list[tuple[Path, bool]]:
    """Files and folders under the state dir that other users can access (symlinks skipped)."""
    loose: list[tuple[Path, bool]] = []
    seen = 0
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name, is_dir in [(d, True) for d in sorted(dirs)] + [(f, False) for f in sorted(files)]:
            seen += 1
            if seen > _WALK_LIMIT:
                return loose
            path = Path(root) / name
            try:
                if path.is_symlink() or not _mode(path) & 0o077:
                    continue
            except OSError:
                continue
            loose.append((path, is_dir))
    return loose


def _check_plugins(config: ZalogateConfig | None, directory: Path, findings: list[Finding]) -> None:
    try:
        plugins = list_plugins(config, state_dir=directory)
    except PluginError as exc:
        findings.append(Finding("error", "plugins", str(exc)))
        return
    for info in plugins:
        if not info.enabled:
            findings.append(Finding("ok", "plugins", f"{info.id} is disabled ({info.reason})"))
            continue
        try:
            load_plugin(info.id)
        except PluginError as exc:
            findings.append(Finding("error", "plugins", str(exc)))


def _check_channels(
    config: ZalogateConfig, env: Mapping[str, str], findings: list[Finding]
) -> None:
    extra = sorted(config.channels.model_extra or {})
    for channel in [*builtin_channel_ids(), *extra]:
        accounts = resolve_accounts(config, channel, env=env)
        if not accounts:
            continue
        section = getattr(config.channels, channel, None)
        if isinstance(section, dict):
            wrote_default = section.get("defaultAccount") is not None
        else:
            wrote_default = getattr(section, "default_account", None) is not None
        if len(accounts) >= 2 and not wrote_default:
            findings.append(
                Finding(
                    "warning",
                    f"channels.{channel}",
                    f"{len(accounts)} accounts and no defaultAccount: "
                    f"{accounts[0].account_id!r} is the default; set defaultAccount to be explicit",
                )
            )
        # A channel without an inspector: its keys mean what its plugin says.
        inspector = _inspector(channel)
        for account in accounts:
            where = f"{channel}/{account.account_id}"
            if not account.enabled:
                findings.append(Finding("ok", where, "disabled"))
                continue
            if inspector is None:
                continue
            for found in inspector.doctor_findings(config, account, env):
                findings.append(Finding(found.level, where, found.message))


def _inspector(channel: str) -> ConfigInspector | None:
    """The plugin's config inspector (None when it has none or does not load)."""
    try:
        return load_plugin(channel).inspector
    except PluginError:
        return None


def _check_gateway(config: ZalogateConfig, findings: list[Finding]) -> None:
    host = config.gateway.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        findings.append(
            Finding(
                "warning",
                "gateway",
                f"gateway.host is {host!r}: the HTTP server is reachable from other machines",
            )
        )
    if config.agent.type == "echo":
        findings.append(
            Finding("warning", "agent", 'agent.type is "echo": every message is repeated back')
        )


def run_checks(explicit_config: Path | None, env: Mapping[str, str]) -> list[Finding]:
    """Run every check; never raises for a broken config (that is a finding)."""
    findings: list[Finding] = []
    config = _check_config(explicit_config, env, findings)
    if config is not None:
        directory = state_dir(config, env)
    else:
        override = env.get("ZALOGATE_STATE_DIR", "").strip()
        directory = Path(override).expanduser() if override else default_home_dir(env)
    _check_state_dir(directory, findings)
    _check_plugins(config, directory, findings)
    if config is not None:
        _check_gateway(config, findings)
        _check_channels(config, env, findings)
    return findings


def command(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    config: ConfigOption = None,
) -> None:
    """Check the config and the state dir; warn about risky policies."""
    apply_config_option(ctx, config)
    findings = run_checks(get_state(ctx).config_path, dict(os.environ))
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if as_json:
        print_json(
            {
                "ok": not errors,
                "errors": len(errors),
                "warnings": len(warnings),
                "checks": [f.as_dict() for f in findings],
            }
        )
        if errors:
            raise typer.Exit(1)
        return
    for finding in findings:
        style = _STYLES[finding.level]
        out_console.print(
            f"[{style}]{finding.level:<7}[/{style}] {escape(finding.check)}: "
            f"{escape(finding.message)}",
            markup=True,
            highlight=False,
        )
    out_console.print(f"{len(errors)} error(s), {len(warnings)} warning(s)", markup=False)
    if errors:
        raise CliError(f"doctor found {len(errors)} error(s)")
