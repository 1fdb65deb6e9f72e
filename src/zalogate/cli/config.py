"""`zalogate config`: Check, show and create the config file."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import read_store
from zalogate.cli.errors import CliError
from zalogate.cli.options import CONFIG_HELP, JsonOpt
from zalogate.cli.state import err_console, get_state, out_console, print_json
from zalogate.config import ConfigError, ZalogateConfig, config_path, load_config, state_dir
from zalogate.config.display import effective_accounts, redacted_config
from zalogate.config.starter import STARTER_CONFIG
from zalogate.core.access_overlay import AccessOverlay, SqliteAccessOverlayStore
from zalogate.runtime.logging import redact
from zalogate.runtime.wiring import cluster_overlays
from zalogate.store.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

__all__ = ["ConfigOption", "app", "apply_config_option"]

app = typer.Typer(help="Check, show and create the config file.", no_args_is_help=True)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="FILE", help=CONFIG_HELP, show_default=False),
]
"""``--config`` after the sub-command (``zalogate config validate --config x.json5``)."""


def apply_config_option(ctx: typer.Context, config: Path | None) -> None:
    """Let a sub-command's ``--config`` override the root one."""
    if config is not None:
        get_state(ctx).config_path = config


def _paths(ctx: typer.Context) -> tuple[Path | None, dict[str, str], Path]:
    state = get_state(ctx)
    env = dict(os.environ)
    return state.config_path, env, config_path(state.config_path, env)


def _load(ctx: typer.Context) -> tuple[ZalogateConfig, Path, dict[str, str]]:
    explicit, env, path = _paths(ctx)
    return load_config(explicit, env=env), path, env


@app.command("validate")
def validate(ctx: typer.Context, as_json: JsonOpt = False, config: ConfigOption = None) -> None:
    """Check the config file; list every problem with its key path (exit 1 if any)."""
    apply_config_option(ctx, config)
    explicit, env, path = _paths(ctx)
    try:
        loaded = load_config(explicit, env=env)
    except ConfigError as exc:
        problems = [redact(p) for p in exc.problems]
        if as_json:
            print_json({"ok": False, "path": str(path), "problems": problems})
            raise typer.Exit(1) from None
        if len(problems) == 1 and problems[0].startswith(f"{path}: "):
            raise CliError(problems[0]) from None  # the file itself: missing, not JSON5, ...
        err_console.print(f"{path}: {len(problems)} problem(s)", markup=False)
        for item in problems:
            err_console.print(f"  {item}", markup=False)
        raise CliError(f"the config is invalid ({len(problems)} problem(s))") from None
    exists = loaded.source_path is not None
    if as_json:
        print_json({"ok": True, "path": str(path), "exists": exists, "problems": []})
        return
    if exists:
        out_console.print(f"config OK: {path}", markup=False)
    else:
        out_console.print(f"config OK: no file at {path}; using the defaults", markup=False)


@app.command("show")
def show(ctx: typer.Context, as_json: JsonOpt = False, config: ConfigOption = None) -> None:
    """Print the effective config (defaults filled in, secrets shown as ***)."""
    apply_config_option(ctx, config)
    loaded, path, env = _load_or_fail(ctx)
    data = redacted_config(loaded)
    data["gateway"].setdefault("stateDir", str(state_dir(loaded, env)))
    data["accounts"] = effective_accounts(loaded, _overlays(loaded, state_dir(loaded, env)))
    if as_json:
        print_json(data)
        return
    source = path if loaded.source_path is not None else f"defaults (no file at {path})"
    out_console.print(
        f"// effective config from {source}; secrets shown as ***; `accounts`: what applies to"
        " each channel account once defaults and inheritance are resolved and the console's"
        " allowlist edits (`console`) are merged",
        markup=False,
    )
    out_console.print(json.dumps(data, indent=2, ensure_ascii=False), markup=False)


def _overlays(loaded: ZalogateConfig, folder: Path) -> Mapping[tuple[str, str], AccessOverlay]:
    """The console's allowlist edits: the cluster's (``gateway.cluster``), else those saved in
    the state dir (none without a database)."""

    async def read() -> Mapping[tuple[str, str], AccessOverlay]:
        shared = await cluster_overlays(loaded, name="zalogate-cli")
        if shared is not None:
            return shared
        async with read_store(folder) as store:
            return await SqliteAccessOverlayStore(store).load_all()

    try:
        return asyncio.run(read())
    except ConnectionError as exc:  # the cluster's NATS servers (ClusterUnavailableError)
        # The config is still worth seeing while NATS is down: without the console's edits.
        err_console.print(
            f"warning: the console's allowlist edits are not merged in: {redact(str(exc))}",
            markup=False,
        )
        return {}


def _load_or_fail(ctx: typer.Context) -> tuple[ZalogateConfig, Path, dict[str, str]]:
    try:
        return _load(ctx)
    except ConfigError as exc:
        if len(exc.problems) == 1 and exc.source and exc.problems[0].startswith(f"{exc.source}: "):
            raise CliError(redact(exc.problems[0])) from None
        for item in exc.problems:
            err_console.print(f"  {redact(item)}", markup=False)
        raise CliError(
            f"the config is invalid ({len(exc.problems)} problem(s)); "
            "see `zalogate config validate`"
        ) from None


@app.command("path")
def path_command(ctx: typer.Context, as_json: JsonOpt = False, config: ConfigOption = None) -> None:
    """Print where the config file is (and the state dir, with --json)."""
    apply_config_option(ctx, config)
    explicit, env, path = _paths(ctx)
    if not as_json:
        out_console.print(str(path), markup=False)
        return
    data: dict[str, Any] = {"path": str(path), "exists": path.is_file()}
    try:
        data["stateDir"] = str(state_dir(load_config(explicit, env=env), env))
    except ConfigError:
        data["stateDir"] = None
    print_json(data)


@app.command("init")
def init(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing file (the old one is kept as .bak)."),
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOption = None,
) -> None:
    """Write a commented starter zalogate.json5 (mode 0600); never overwrites without --force."""
    apply_config_option(ctx, config)
    _, _, path = _paths(ctx)
    backup: Path | None = None
    if path.exists() or path.is_symlink():
        if not force:
            raise CliError(f"{path} already exists; not overwriting it (use --force to replace it)")
        if not path.is_file():
            raise CliError(f"{path} exists and is not a regular file")
        backup = path.with_name(path.name + ".bak")
        os.replace(path, backup)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
    try:
        # O_EXCL: a file that appeared since the check above is never clobbered.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    except FileExistsError:
        raise CliError(f"{path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
        handle.write(STARTER_CONFIG)
    if as_json:
        print_json({"path": str(path), "created": True, "backup": str(backup) if backup else None})
        return
    out_console.print(f"wrote {path}", markup=False)
    if backup is not None:
        out_console.print(f"the previous file is kept as {backup}", markup=False)
    out_console.print(
        "next: set a channel's `enabled: true`, add its token, then run `zalogate config validate`",
        markup=False,
    )
