"""`zalogate pairing`: List and approve DM pairing requests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    channel_id,
    is_channel_name,
    load_cli_config,
    open_channel,
    read_store,
)
from zalogate.cli.errors import CliError
from zalogate.cli.options import AccountOpt, ChannelOpt, JsonOpt
from zalogate.cli.output import print_rows
from zalogate.cli.state import CliState, err_console, get_state, out_console, print_json
from zalogate.config import ConfigError, load_config, state_dir
from zalogate.core.model import ReplyPayload
from zalogate.core.pairing import (
    PAIRING_TTL_SECONDS,
    PairingError,
    PairingNotifier,
    PairingRequest,
    PairingStore,
    SqlitePairingStore,
    pairing_approved_text,
)
from zalogate.core.traits import traits_for
from zalogate.runtime.wiring import cluster_shared_state
from zalogate.store import Store

__all__ = ["app", "make_notifier"]

app = typer.Typer(help="List and approve DM pairing requests.", no_args_is_help=True)


def _config(state: CliState) -> Any:
    try:
        return load_config(state.config_path, env=dict(os.environ))
    except ConfigError as exc:
        raise CliError(f"could not load the config: {exc}") from exc


def _state_dir(state: CliState) -> Path:
    """The state dir: ``gateway.stateDir``, else ``$ZALOGATE_STATE_DIR``, else ``~/.zalogate``."""
    return state_dir(_config(state), dict(os.environ))


def _run(
    ctx: typer.Context, action: Callable[[PairingStore], Awaitable[Any]], *, writes: bool = True
) -> Any:
    """Run ``action`` on the pairing store the config selects: the cluster's (through NATS)
    when ``gateway.cluster`` is set, else the state dir's SQLite store."""
    state = get_state(ctx)
    config, state_dir = _config(state), _state_dir(state)

    async def main() -> Any:
        async with cluster_shared_state(config, name="zalogate-cli") as shared:
            if shared is not None:
                return await action(shared.pairing)
        if not writes:
            async with read_store(state_dir) as store:
                return await action(SqlitePairingStore(store))
        async with await Store.open(state_dir) as store:
            return await action(SqlitePairingStore(store))

    try:
        return asyncio.run(main())
    except ConnectionError as exc:  # the cluster's NATS servers (ClusterUnavailableError)
        raise CliError(str(exc)) from exc


def _expires_in(request: PairingRequest, now_ms: int) -> str:
    left = max(0, request.created_at_ms + int(PAIRING_TTL_SECONDS * 1000) - now_ms) // 1000
    return f"{left // 60} min" if left >= 60 else f"{left} s"


def _print_table(channel: str | None, requests: list[PairingRequest]) -> None:
    label = traits_for(channel).pairing_id_label if channel is not None else "SENDER"
    headers = ["CODE", label, "NAME", "ACCOUNT", "EXPIRES IN"]
    now_ms = int(time.time() * 1000)
    rows = []
    for request in requests:
        cells = [
            request.code,
            request.id,
            str(request.meta.get("name", "")),
            request.account_id,
            _expires_in(request, now_ms),
        ]
        rows.append([request.channel, *cells] if channel is None else cells)
    if channel is None:
        headers.insert(0, "CHANNEL")
    print_rows(headers, rows, title=f"Pairing requests ({len(requests)})")


@app.command("list")
def list_command(
    ctx: typer.Context,
    channel_arg: Annotated[
        str | None, typer.Argument(metavar="[CHANNEL]", help="zalo or zalouser.")
    ] = None,
    channel_opt: ChannelOpt = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List pending pairing requests (expired ones are pruned)."""
    raw = channel_arg or channel_opt
    channel = channel_id(raw) if raw else None

    async def action(pairing: PairingStore) -> list[PairingRequest]:
        return await pairing.list_pending(channel, account)

    requests: list[PairingRequest] = _run(ctx, action, writes=False)
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
    channel_opt: ChannelOpt = None,
    account: AccountOpt = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Tell the sender on the same channel.")
    ] = False,
    as_json: JsonOpt = False,
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
    if not as_json:
        out_console.print(f"Approved {request.channel} sender {request.id}.")
    notified = _notify(ctx, request) if notify else None
    if as_json:
        print_json(
            {
                "channel": request.channel,
                "account": request.account_id,
                "id": request.id,
                "approved": True,
                "notified": notified,
            }
        )


def _notify(ctx: typer.Context, request: PairingRequest) -> bool:
    """Tell the sender they were approved; a failure is a warning (the approval stands)."""
    notifier = make_notifier(get_state(ctx), request.channel)
    if notifier is None:
        err_console.print(
            f"Warning: could not notify {request.id}: sending through {request.channel}"
            " is not available from the CLI yet. The approval stands."
        )
        return False
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
        return False
    return True
