"""`zalogate import`: move to zalogate from another gateway (OpenClaw)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from zalogate.cli.channel_access import installed_channel_ids
from zalogate.cli.errors import CliError
from zalogate.cli.options import JsonOpt
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.config import config_path
from zalogate.importers.openclaw import ImportPlan, MigrationError, apply_import, plan_import
from zalogate.importers.openclaw_source import SourceError, default_openclaw_dir, read_openclaw

__all__ = ["app"]

app = typer.Typer(help="Move to zalogate from another gateway.", no_args_is_help=True)


@app.command("openclaw", short_help="Import Zalo channels, approved senders, sessions.")
def openclaw(
    ctx: typer.Context,
    source_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="OpenClaw's state dir. Default: $OPENCLAW_STATE_DIR or ~/.openclaw.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be imported; write nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing config (kept as .bak) and sessions."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import OpenClaw's Zalo channels, approved senders and saved Zalo sessions.

    OpenClaw's files are only read. What is left behind is listed with the reason.
    """
    env = dict(os.environ)
    root = (source_dir or default_openclaw_dir(env)).expanduser()
    target = config_path(get_state(ctx).config_path, env)
    try:
        source = read_openclaw(root, env, explicit=source_dir is not None)
        plan = plan_import(source, config_path=target, env=env, channels=installed_channel_ids())
        backup = None if dry_run else apply_import(plan, force=force, env=env)
    except (SourceError, MigrationError) as exc:
        raise CliError(str(exc)) from exc
    if as_json:
        print_json({**plan.to_json(), "dryRun": dry_run, "backup": str(backup) if backup else None})
        return
    _print_report(plan, dry_run=dry_run, backup=backup)


def _print_report(plan: ImportPlan, *, dry_run: bool, backup: Path | None) -> None:
    version = f" (OpenClaw {plan.source.version})" if plan.source.version else ""
    out_console.print(f"from {plan.source.root}{version}", markup=False)
    out_console.print("took:", markup=False)
    for item in plan.took:
        out_console.print(f"  {item.kind:<8} {item.what}", markup=False)
    if plan.left:
        out_console.print("left:", markup=False)
        for item in plan.left:
            out_console.print(f"  {item.kind:<8} {item.what}: {item.reason}", markup=False)
    if dry_run:
        out_console.print(
            f"dry run: nothing written (would write {plan.config_path} and {plan.state_dir})",
            markup=False,
        )
        return
    out_console.print(f"wrote {plan.config_path}; state in {plan.state_dir}", markup=False)
    if plan.cluster and plan.sessions:
        out_console.print(
            f"cluster: the saved sessions are files in {plan.state_dir}; copy them to the"
            " state dir of every node that may run the account",
            markup=False,
        )
    if backup is not None:
        out_console.print(f"the previous config is kept as {backup}", markup=False)
    out_console.print(
        "next: `zalogate config validate`, stop OpenClaw's Zalo channels, then"
        " `zalogate gateway run`",
        markup=False,
    )
