"""`zalogate pairing`: List and approve DM pairing requests."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zalogate.cli.channel_access import channel_id, is_channel_name, load_cli_config, open_channel
from zalogate.cli.errors import CliError
from zalogate.cli.state import CliState, err_console, get_state, out_console, print_json
from zalogate.config import ConfigError, load_config, state_dir
from zalogate.core.model import ReplyPayload
from zalogate.core.pairing import (
    PairingError,
    PairingNotifier,
    PairingRequest,
    PairingStore,
    pairing_approved_text,
)
from zalogate.core.traits import traits_for
from zalogate.store import Store

__all__ = ["app", "make_notifier"]

app = typer.Typer(help="List and approve DM pairing requests.", no_args_is_help=True)


def _state_dir(state: CliState) -> Path:
    """The state dir: ``gateway.stateDir``, else ``$ZALOGATE_STATE_DIR``, else ``~/.zalogate``."""
    env = dict(os.environ)
    try:
        config = load_config(state.config_path, env=env)
    except ConfigError as exc:
        raise CliError(f"could not load the config: {exc}") from exc
    return state_dir(config, env)


def _run(ctx: typer.Context, action: Callable[[PairingStore], Awaitable[Any]]) -> Any:
    state_dir = _state_dir(get_state(ctx))

    async def main() -> Any:
        async with await Store.open(state_dir) as store:
            return await action(PairingStore(store))

    return asyncio.run(main())


def _print_table(channel: str | None, requests: list[PairingRequest]) -> None:
    table = Table(title=f"Pairing requests ({len(requests)})", title_justify="left")
    if channel is None:
        table.add_column("Channel", no_wrap=True)
    table.add_column("Code", no_wrap=True)
    label = traits_for(channel).pairing_id_label if channel is not None else "userId"
    table.add_column(label, no_wrap=True)
    table.add_column("Meta", overflow="fold", min_width=12)
    table.add_column("Requested", no_wrap=True)
    for request in requests:
        cells = [
            request.code,
            request.id,
            json.dumps(dict(request.meta), ensure_ascii=False, separators=(",", ":")),
            request.created_at,
        ]
        table.add_row(*([request.channel, *cells] if channel is None else cells))
    out_console.print(table)


@app.command("list")
def list_command(
    ctx: typer.Context,
    channel_arg: Annotated[
        str | None, typer.Argument(metavar="[CHANNEL]", help="zalo or zalouser.")
    ] = None,
    channel_opt: Annotated[
        str | None, typer.Option("--channel", help="The channel (same as the argument).")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account's requests.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List pending pairing requests (expired ones are pruned)."""
    raw = channel_arg or channel_opt
    channel = channel_id(raw) if raw else None

    async def action(pairing: PairingStore) -> list[PairingRequest]:
        return await pairing.list_pending(channel, account)

    requests: list[PairingRequest] = _run(ctx, action)
    if as_json:
        items = []
        for request in requests:
            item = request.to_json()
            if channel is None:
                item = {"channel": request.channel, **item}
            items.append(item)
        print_json({"channel": channel, "requests": items})
        return
    if not requests:
        out_console.print(
            f"No pending {channel} pairing requests." if channel else "No pending pairing requests."
        )
        return
    _print_table(channel, requests)


def make_notifier(state: CliState, channel: str) -> PairingNotifier | None:
    """Build a notifier that sends through the channel (built as for ``message send``).

    Tests replace this function.
    """

    async def notify(channel_id: str, account_id: str, sender_id: str, text: str) -> None:
        config, account_state_dir = load_cli_config(state)
        async with open_channel(config, account_state_dir, channel_id) as handle:
            account = handle.account(account_id)
            receipt = await handle.channel.send(account, sender_id, ReplyPayload(text=text))
            if receipt.error:
                raise RuntimeError(receipt.error)

    return notify


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(metavar="CHANNEL_OR_CODE", help="Channel, or the code.")],
    second: Annotated[str | None, typer.Argument(metavar="[CODE]", help="The code.")] = None,
    channel_opt: Annotated[str | None, typer.Option("--channel", help="The channel.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Approve into this account.")
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Tell the sender on the same channel.")
    ] = False,
) -> None:
    """Approve a pairing code: the sender may then DM the bot.

    Forms: "approve CHANNEL CODE", "approve --channel CHANNEL CODE", or "approve CODE" when the
    code is pending in exactly one channel.
    """
    if second is not None:
        if channel_opt is not None and channel_id(channel_opt) != channel_id(first):
            raise CliError("the channel was given twice with different values")
        channel: str | None = channel_id(first)
        code = second
    else:
        if channel_opt is None and is_channel_name(first):
            raise CliError(f"Missing pairing code: zalogate pairing approve {first} <CODE>")
        channel = channel_id(channel_opt) if channel_opt else None
        code = first
    wanted = code.strip().upper()

    async def action(pairing: PairingStore) -> PairingRequest:
        target = channel
        if target is None:
            pending = await pairing.list_pending(None, account)
            channels = sorted({r.channel for r in pending if r.code == wanted})
            if len(channels) != 1:
                if not channels:
                    raise PairingError(f"No pending pairing request found for code: {wanted}")
                raise CliError("the code is pending in several channels; name the channel")
            target = channels[0]
        return await pairing.approve(target, wanted, account)

    try:
        request: PairingRequest = _run(ctx, action)
    except PairingError as exc:
        raise CliError(str(exc)) from exc
    out_console.print(f"Approved {request.channel} sender {request.id}.")
    if not notify:
        return
    notifier = make_notifier(get_state(ctx), request.channel)
    if notifier is None:
        err_console.print(
            f"Warning: could not notify {request.id}: sending through {request.channel}"
            " is not available from the CLI yet. The approval stands."
        )
        return
    try:
        asyncio.run(
            notifier(
                request.channel,
                request.account_id,
                request.id,
                pairing_approved_text(request.channel),
            )
        )
    except Exception as exc:
        err_console.print(f"Warning: could not notify {request.id}: {exc}. The approval stands.")
