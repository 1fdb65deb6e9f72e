"""``zalogate message schedule``: scheduled and recurring messages, kept in the state dir's
store (in cluster mode: the cluster's, through NATS) and sent by the running gateway (once
per occurrence, across restarts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer

from zalogate.cli.errors import CliError
from zalogate.cli.output import print_rows
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.core.schedules import (
    Schedule,
    ScheduleError,
    ScheduleStore,
    SqliteScheduleStore,
    parse_at,
    zone,
)
from zalogate.store import Store

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Schedule a message (--at or --cron); `list` and `cancel` manage schedules.",
    invoke_without_command=True,
)


def _run(ctx: typer.Context, action: Callable[[ScheduleStore], Awaitable[T]]) -> T:
    """Run ``action`` on the schedule store the config selects: the cluster's when
    ``gateway.cluster`` is set, else the state dir's SQLite store."""
    from zalogate.cli.channel_access import load_cli_config
    from zalogate.runtime.wiring import cluster_shared_state

    config, state_dir = load_cli_config(get_state(ctx))

    async def main() -> T:
        async with cluster_shared_state(config, name="zalogate-cli") as shared:
            if shared is not None:
                return await action(shared.schedules)
        async with await Store.open(state_dir) as store:
            return await action(SqliteScheduleStore(store))

    try:
        return asyncio.run(main())
    except ConnectionError as exc:  # the cluster's NATS servers (ClusterUnavailableError)
        raise CliError(str(exc)) from exc


@app.callback()
def schedule_command(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Chat id, or a prefixed target: group:<id>, ..."),
    ] = None,
    text: Annotated[str, typer.Option("--message", "-m", help="The text to send.")] = "",
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", help="zalo or zalouser (needed when several channels are configured)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When: +10m, in 2h, 18:30, or 2026-12-24T18:30 (ISO)."),
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="Recurring: a cron expression, '0 8 * * 1-5'.")
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="IANA time zone of --at and --cron.")
    ] = "Asia/Ho_Chi_Minh",
    account: Annotated[
        str | None, typer.Option("--account", help="Send from this account (default account).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the schedule as JSON.")] = False,
) -> None:
    """Schedule a message; the running gateway sends it."""
    if ctx.invoked_subcommand is not None:
        return
    if target is None:
        raise CliError("--target is required (or use `message schedule list` / `cancel`)")
    if (at is None) == (cron is None):
        raise CliError("give exactly one of --at TIME or --cron EXPR")
    from zalogate.cli import message
    from zalogate.cli.channel_access import installed_plugins, load_cli_config

    config, _ = load_cli_config(get_state(ctx))
    chosen = message._choose_channel(config, channel, target, installed_plugins())
    canonical = message._target(target, chosen)
    if not text.strip():
        raise CliError("nothing to send: give --message")
    try:
        zone(tz)
        at_ms = parse_at(at, tz, time.time()) if at is not None else None

        async def add(schedules: ScheduleStore) -> Schedule:
            return await schedules.add(
                chosen, canonical, text, at_ms=at_ms, cron=cron, tz=tz, account_id=account
            )

        schedule = _run(ctx, add)
    except ScheduleError as exc:
        raise CliError(str(exc)) from exc
    if as_json:
        print_json(schedule.to_json())
        return
    when = _when(schedule.next_at_ms, schedule.tz)
    repeat = f" (cron {schedule.cron!r} in {schedule.tz})" if schedule.cron else ""
    out_console.print(
        f"Scheduled {schedule.id}: {chosen} {canonical} at {when}{repeat}", markup=False
    )


@app.command("list")
def list_command(
    ctx: typer.Context,
    include_done: Annotated[
        bool, typer.Option("--all", help="Also show sent, missed and cancelled schedules.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List scheduled messages (next occurrence first)."""

    async def action(schedules: ScheduleStore) -> list[Schedule]:
        return await schedules.all(include_done=include_done)

    found = _run(ctx, action)
    if as_json:
        print_json([s.to_json() for s in found])
        return
    if not found:
        out_console.print("No scheduled messages.")
        return
    rows = [
        (
            s.id,
            s.channel + (f"/{s.account_id}" if s.account_id else ""),
            s.target,
            _when(s.next_at_ms, s.tz),
            s.cron or "once",
            s.status,
            str(s.sent_count),
            s.text if len(s.text) <= 40 else s.text[:39] + "…",
        )
        for s in found
    ]
    headers = ("ID", "CHANNEL", "TARGET", "NEXT", "REPEAT", "STATUS", "SENT", "MESSAGE")
    print_rows(headers, rows, title=f"Scheduled messages ({len(found)})")


@app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(help="The schedule id (see `schedule list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cancel a scheduled message."""

    async def action(schedules: ScheduleStore) -> bool:
        return await schedules.cancel(schedule_id)

    if not _run(ctx, action):
        raise CliError(f"no active schedule {schedule_id!r} (see `zalogate message schedule list`)")
    if as_json:
        print_json({"ok": True, "id": schedule_id, "status": "cancelled"})
        return
    out_console.print(f"Cancelled {schedule_id}.", markup=False)


def _when(at_ms: int | None, tz: str) -> str:
    if at_ms is None:
        return "-"
    return datetime.fromtimestamp(at_ms / 1000, zone(tz)).strftime("%Y-%m-%d %H:%M %Z")
