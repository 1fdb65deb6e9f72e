"""`zalogate inbox`: list, show, retry and prune the inbox's messages (dead letters too)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from zalogate.cli.channel_access import load_cli_config
from zalogate.cli.channel_status import gateway_accounts
from zalogate.cli.errors import CliError
from zalogate.cli.gateway import configured_gateway_url
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.core.inbox_admin import (
    STATES,
    InboxEntryView,
    get_entry,
    list_entries,
    prune_entries,
    requeue_entries,
)
from zalogate.runtime.control import ControlError, inbox_retry, read_token_file
from zalogate.store import Store

__all__ = ["app", "parse_age"]

app = typer.Typer(help="The inbox: list, show, retry and prune messages.", no_args_is_help=True)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` -> seconds.

    Raises:
        CliError: The text is not such an age.
    """
    match = _AGE.match(text)
    if match is None:
        raise CliError(f"--older-than {text!r} is not an age; write it like 7d, 12h or 30m")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _run(ctx: typer.Context, action: Callable[[Store], Awaitable[Any]]) -> Any:
    _config, state_dir = load_cli_config(get_state(ctx))

    async def main() -> Any:
        async with await Store.open(state_dir) as store:
            return await action(store)

    return asyncio.run(main())


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_command(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, done, dead or failed.")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest inbox messages (dead letters with --state dead)."""
    if state is not None and state not in STATES:
        raise CliError(f"--state {state!r} is not a state; use one of {', '.join(STATES)}")

    async def action(store: Store) -> list[InboxEntryView]:
        return await list_entries(
            store, state=state, channel=channel, account_id=account, limit=limit
        )

    entries: list[InboxEntryView] = _run(ctx, action)
    if as_json:
        print_json({"entries": [entry.to_json() for entry in entries]})
        return
    if not entries:
        out_console.print("No inbox messages" + (f" in state {state}." if state else "."))
        return
    table = Table(title=f"Inbox ({len(entries)})", title_justify="left")
    for column in ("Id", "Channel", "Account", "State", "Tries", "Admitted", "Text", "Error"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            e.channel,
            e.account_id,
            e.state,
            str(e.attempts),
            _when(e.admitted_at_ms),
            e.text_preview or "",
            e.last_error or "",
        )
    out_console.print(table)


@app.command("show")
def show_command(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry id (inbox list).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One inbox message."""

    async def action(store: Store) -> InboxEntryView | None:
        return await get_entry(store, entry_id)

    entry: InboxEntryView | None = _run(ctx, action)
    if entry is None:
        raise CliError(f"no inbox entry {entry_id}; see zalogate inbox list")
    if as_json:
        print_json(entry.to_json())
        return
    for key, value in entry.to_json().items():
        shown = _when(int(value)) if key == "admittedAt" and isinstance(value, int) else value
        out_console.print(f"{key}: {'' if shown is None else shown}", markup=False)


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    entry_ids: Annotated[
        list[int] | None, typer.Argument(metavar="[ID]...", help="Entry ids to retry.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
) -> None:
    """Put dead or failed messages back in the queue (the running gateway, else the next
    start, processes them)."""
    ids = list(entry_ids or [])
    if not ids and not all_dead:
        raise CliError("name entry ids (zalogate inbox list --state dead) or pass --all-dead")
    config, state_dir = load_cli_config(get_state(ctx))

    async def main() -> tuple[int, str]:
        url = configured_gateway_url(config)
        token = read_token_file(state_dir)
        if token is not None and await gateway_accounts(url) is not None:
            try:
                return await inbox_retry(url, token, ids, all_dead=all_dead), "now"
            except ControlError as exc:
                if not exc.unreachable:
                    raise CliError(str(exc)) from None
        async with await Store.open(state_dir) as store:
            return await requeue_entries(store, ids, all_dead=all_dead), "at the next start"

    count, when = asyncio.run(main())
    out_console.print(f"Requeued {count} message(s); the gateway processes them {when}.")


@app.command("prune")
def prune_command(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of finished messages to delete, e.g. 7d.")
    ],
) -> None:
    """Delete finished messages (done, dead, failed) older than an age."""
    cutoff_ms = int((time.time() - parse_age(older_than)) * 1000)

    async def action(store: Store) -> int:
        return await prune_entries(store, cutoff_ms)

    removed: int = _run(ctx, action)
    out_console.print(f"Pruned {removed} inbox message(s) older than {older_than}.")
