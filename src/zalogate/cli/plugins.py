"""`zalogate plugins`: List, enable, disable and install channel plugins.

Enable/disable choices are stored in ``<state dir>/plugins.json``; the config file is never
rewritten. ``install`` runs pip with the interpreter zalogate runs on and then checks that a
``zalogate.channels`` entry point appeared (or changed) and loads.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from zalogate.cli.config import ConfigOption, apply_config_option
from zalogate.cli.errors import CliError
from zalogate.cli.options import JsonOpt
from zalogate.cli.output import print_rows
from zalogate.cli.state import err_console, get_state, out_console, print_json
from zalogate.config import ConfigError, ZalogateConfig, load_config, state_dir
from zalogate.core.channel import ENTRY_POINT_GROUP
from zalogate.runtime.logging import redact
from zalogate.runtime.plugins import (
    PluginError,
    PluginInfo,
    list_plugins,
    load_plugin,
    plugin_entry_points,
    write_plugin_choice,
)

__all__ = ["app", "installed_entry_points", "run_pip"]

app = typer.Typer(help="List, enable, disable and install channel plugins.", no_args_is_help=True)


_PIP_TIMEOUT = 900.0


def _context(ctx: typer.Context) -> tuple[ZalogateConfig, Path]:
    env = dict(os.environ)
    try:
        config = load_config(get_state(ctx).config_path, env=env)
    except ConfigError as exc:
        raise CliError(
            f"the config is invalid ({len(exc.problems)} problem(s)); "
            "see `zalogate config validate`"
        ) from None
    return config, state_dir(config, env)


def _plugins(config: ZalogateConfig, directory: Path) -> list[PluginInfo]:
    try:
        return list_plugins(config, state_dir=directory)
    except PluginError as exc:
        raise CliError(str(exc)) from exc


@app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOpt = False, config: ConfigOption = None) -> None:
    """Show the installed channel plugins: id, source, version, enabled."""
    apply_config_option(ctx, config)
    loaded, directory = _context(ctx)
    plugins = _plugins(loaded, directory)
    if as_json:
        print_json({"plugins": [info.as_dict() for info in plugins]})
        return
    if not plugins:
        out_console.print("no channel plugin is installed", markup=False)
        return
    rows = [
        [
            info.id,
            info.source,
            info.distribution or "-",
            info.version or "-",
            "yes" if info.enabled else "no",
            info.reason,
        ]
        for info in plugins
    ]
    print_rows(("ID", "SOURCE", "DISTRIBUTION", "VERSION", "ENABLED", "WHY"), rows)


def _set_enabled(ctx: typer.Context, plugin_id: str, enabled: bool, as_json: bool) -> None:
    config, directory = _context(ctx)
    plugins = {info.id: info for info in _plugins(config, directory)}
    if plugin_id not in plugins:
        installed = ", ".join(sorted(plugins)) or "none"
        raise CliError(f"no channel plugin {plugin_id!r} is installed (installed: {installed})")
    try:
        path = write_plugin_choice(directory, plugin_id, enabled)
    except (OSError, PluginError) as exc:
        raise CliError(f"cannot save the choice in {directory}: {exc}") from exc
    info = {i.id: i for i in _plugins(config, directory)}[plugin_id]
    if as_json:
        print_json({**info.as_dict(), "saved": str(path)})
    else:
        word = "enabled" if enabled else "disabled"
        out_console.print(f"{plugin_id}: {word} (saved in {path})", markup=False)
    if info.enabled != enabled:
        err_console.print(
            f"warning: {plugin_id} stays {'enabled' if info.enabled else 'disabled'}: "
            f"{info.reason} in the config decides",
            markup=False,
        )


@app.command("enable")
def enable(
    ctx: typer.Context,
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="Plugin (channel) id.")],
    as_json: JsonOpt = False,
    config: ConfigOption = None,
) -> None:
    """Allow a channel plugin to run (recorded in the state dir)."""
    apply_config_option(ctx, config)
    _set_enabled(ctx, plugin_id, True, as_json)


@app.command("disable")
def disable(
    ctx: typer.Context,
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="Plugin (channel) id.")],
    as_json: JsonOpt = False,
    config: ConfigOption = None,
) -> None:
    """Stop a channel plugin from running (recorded in the state dir)."""
    apply_config_option(ctx, config)
    _set_enabled(ctx, plugin_id, False, as_json)


def installed_entry_points() -> dict[str, tuple[str | None, str | None, str]]:
    """``id -> (distribution, version, module:attr)`` of the ``zalogate.channels`` group."""
    importlib.invalidate_caches()  # pip may just have added a distribution
    return plugin_entry_points()


def run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pip <args>`` with the interpreter zalogate runs on."""
    return subprocess.run(  # noqa: S603 - our interpreter, arguments as a list
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=_PIP_TIMEOUT,
        check=False,
    )


@app.command("install")
def install(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="A pip requirement, a wheel, or a folder.")
    ],
    pip_args: Annotated[
        list[str] | None,
        typer.Option("--pip-arg", help="Extra argument for pip (repeatable), e.g. --no-deps."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Install a channel plugin distribution with pip and check its entry point."""
    before = installed_entry_points()
    target = spec
    if os.path.exists(spec):
        target = str(Path(spec).resolve())
    try:
        result = run_pip(["install", "--disable-pip-version-check", *(pip_args or []), target])
    except subprocess.TimeoutExpired as exc:
        raise CliError(f"pip install {spec} did not finish in {_PIP_TIMEOUT:.0f} s") from exc
    if result.returncode != 0:
        lines = [ln for ln in (result.stderr or result.stdout or "").splitlines() if ln.strip()]
        detail = redact(lines[-1].strip()) if lines else "no output"
        raise CliError(f"pip install {spec} failed (exit {result.returncode}): {detail}")
    after = installed_entry_points()
    changed = sorted(name for name, value in after.items() if before.get(name) != value)
    if not changed:
        raise CliError(
            f"pip installed {spec}, but no new {ENTRY_POINT_GROUP!r} entry point appeared: "
            "it is not a zalogate channel plugin (or that version was already installed)"
        )
    loaded = []
    for plugin_id in changed:
        try:
            plugin = load_plugin(plugin_id)
        except PluginError as exc:
            raise CliError(f"installed, but {exc}") from exc
        loaded.append(plugin)
    if as_json:
        print_json(
            {
                "installed": [
                    {
                        "id": p.id,
                        "label": p.label,
                        "distribution": after[p.id][0],
                        "version": after[p.id][1],
                    }
                    for p in loaded
                ]
            }
        )
        return
    for plugin in loaded:
        dist, version, _ = after[plugin.id]
        out_console.print(
            f"installed channel plugin {plugin.id} ({plugin.label}) from {dist} {version}; "
            f"configure it under channels.{plugin.id}",
            markup=False,
        )
