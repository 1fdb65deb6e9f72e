"""`zalogate directory`: who the account is, which peers and groups it knows.

``self``, ``peers list``, ``groups list`` and ``groups members <group id>`` call the channel's
:class:`~zalogate.core.channel.Directory` and :class:`~zalogate.core.channel.GroupMembers`
capabilities.
Output: a table of id and name; an empty list names the channel and account; ``--json`` gives
a list (``[]`` when empty); a failure exits non-zero, with ``{"error": ...}`` under ``--json``.
A channel without a directory answers ``directory self`` with ``{"status": "unavailable",
..., "reason": "self-identity-unsupported"}`` and exit 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    ChannelHandle,
    bounded,
    choose_channel,
    error_line,
    installed_plugins,
    load_cli_config,
    open_channel,
)
from zalogate.cli.errors import CliError
from zalogate.cli.options import AccountOpt, ChannelOpt, JsonOpt, LimitOpt
from zalogate.cli.output import print_rows
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.core.channel import ChannelAccount, Directory, DirectoryEntry, GroupMembers

__all__ = ["app", "entry_json"]

LOOKUP_TIMEOUT = 15.0
"""Upper bound for one directory lookup, in seconds (zalouser's own lookups stop at 12 s)."""

app = typer.Typer(help="Look up yourself, peers and groups on a channel.", no_args_is_help=True)
peers_app = typer.Typer(help="Users the account can talk to.", no_args_is_help=True)
groups_app = typer.Typer(help="Groups the account is in.", no_args_is_help=True)
app.add_typer(peers_app, name="peers")
app.add_typer(groups_app, name="groups")

QueryOpt = Annotated[
    str | None, typer.Option("--query", "-q", help="Only entries whose id or name contains this.")
]

Lookup = Callable[[ChannelHandle, ChannelAccount], Awaitable[Any]]


def entry_json(entry: DirectoryEntry) -> dict[str, Any]:
    """A directory entry as ``--json`` prints it."""
    return {"id": entry.id, "name": entry.name, "kind": entry.kind, **dict(entry.extra)}


def _run(
    ctx: typer.Context, channel: str | None, account_id: str | None, lookup: Lookup, as_json: bool
) -> tuple[str, str, Any]:
    try:
        plugins = installed_plugins()
        config, state_dir = load_cli_config(get_state(ctx))
        chosen = choose_channel(config, channel, plugins)

        async def main() -> tuple[str, str, Any]:
            async with open_channel(
                config, state_dir, chosen, plugins=plugins, acts=True
            ) as handle:
                account = handle.account(account_id)
                try:
                    result = await bounded(
                        lookup(handle, account), LOOKUP_TIMEOUT, f"the {chosen} directory lookup"
                    )
                except CliError:
                    raise
                except Exception as exc:
                    raise CliError(f"{chosen}: {error_line(exc)}") from exc
                return chosen, account.account_id, result

        return asyncio.run(main())
    except CliError as exc:
        if as_json:
            print_json({"error": str(exc)})
            raise typer.Exit(exc.exit_code) from exc
        raise


def _directory(handle: ChannelHandle, what: str) -> Directory:
    directory = handle.channel.directory
    if directory is None:
        raise CliError(f"the {handle.id} channel cannot list {what}")
    return directory


def _group_members(handle: ChannelHandle) -> GroupMembers:
    members = handle.channel.group_members
    if members is None:
        raise CliError(f"the {handle.id} channel cannot list group members")
    return members


def _filtered(
    entries: Sequence[DirectoryEntry], query: str | None, limit: int | None
) -> list[DirectoryEntry]:
    """Apply ``--query`` (id or name substring, exact matches first) and ``--limit``."""
    items = list(entries)
    if query:
        needle = query.strip().lower()
        items = [e for e in items if needle in e.id.lower() or needle in (e.name or "").lower()]
        items.sort(key=lambda e: 0 if needle in (e.id.lower(), (e.name or "").lower()) else 1)
    return items[:limit] if limit is not None else items


def _print_entries(
    entries: Sequence[DirectoryEntry], what: str, channel: str, account: str, as_json: bool
) -> None:
    if as_json:
        print_json([entry_json(e) for e in entries])
        return
    if not entries:
        out_console.print(f"No {what} for {channel} account {account}.", markup=False)
        return
    rows = [[entry.id, entry.name or ""] for entry in entries]
    print_rows(("ID", "NAME"), rows, title=f"{what.capitalize()} ({len(entries)})")


def _list(
    ctx: typer.Context,
    channel: str | None,
    account: str | None,
    groups: bool,
    what: str,
    query: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """``peers list`` / ``groups list``: ``directory_peers``/``directory_groups``."""

    async def lookup(handle: ChannelHandle, acct: ChannelAccount) -> list[DirectoryEntry]:
        directory = _directory(handle, what)
        listing = directory.directory_groups if groups else directory.directory_peers
        return _filtered(await listing(acct, query, limit), query, limit)

    chosen, account_id, entries = _run(ctx, channel, account, lookup, as_json)
    _print_entries(entries, what, chosen, account_id, as_json)


@app.command("self")
def self_command(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The account's own identity."""

    async def lookup(handle: ChannelHandle, acct: ChannelAccount) -> DirectoryEntry | None:
        directory = handle.channel.directory
        if directory is None:
            return None
        return await directory.directory_self(acct)

    chosen, account_id, entry = _run(ctx, channel, account, lookup, as_json)
    if entry is None:
        unavailable = {
            "status": "unavailable",
            "channel": chosen,
            "accountId": account_id,
            "reason": "self-identity-unsupported",
        }
        if as_json:
            print_json(unavailable)
        else:
            out_console.print(
                f"The {chosen} channel cannot tell the identity of account {account_id}.",
                markup=False,
            )
        return
    if as_json:
        print_json({"channel": chosen, "accountId": account_id, **entry_json(entry)})
        return
    name = f" ({entry.name})" if entry.name else ""
    out_console.print(f"{chosen}/{account_id}: {entry.id}{name}", markup=False)


@peers_app.command("list")
def peers_list(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    query: QueryOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Users the account knows (zalo: the allowFrom entries; zalouser: friends)."""
    _list(ctx, channel, account, False, "peers", query, limit, as_json)


@groups_app.command("list")
def groups_list(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    query: QueryOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Groups the account is in."""
    _list(ctx, channel, account, True, "groups", query, limit, as_json)


@groups_app.command("members")
def groups_members(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    group: Annotated[
        str | None, typer.Argument(metavar="GROUP_ID", help="The group id (or group:<id>).")
    ] = None,
    group_opt: Annotated[
        str | None, typer.Option("--group-id", help="The group id (same as the argument).")
    ] = None,
    account: AccountOpt = None,
    query: QueryOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Members of a group."""
    raw = group or group_opt
    if not raw or not raw.strip():
        message = "give the group id: zalogate directory groups members <GROUP_ID> --channel C"
        if as_json:
            print_json({"error": message})
            raise typer.Exit(2)
        raise CliError(message, exit_code=2)
    group_id = raw.strip()
    for prefix in ("group:", "g:"):
        if group_id.lower().startswith(prefix):
            group_id = group_id[len(prefix) :].strip()

    async def lookup(handle: ChannelHandle, acct: ChannelAccount) -> list[DirectoryEntry]:
        members = _group_members(handle)
        return _filtered(await members.directory_group_members(acct, group_id), query, limit)

    chosen, account_id, entries = _run(ctx, channel, account, lookup, as_json)
    _print_entries(entries, f"members of group {group_id}", chosen, account_id, as_json)
