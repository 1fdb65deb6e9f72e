"""`zalogate message send`: send one message through a channel account.

When a gateway answers ``/healthz`` on the configured host and port and its control token is
in ``<state dir>/gateway.token``, the message goes through the gateway
(``POST /control/messages/{channel}/{account}``, :mod:`zalogate.runtime.control`): it uses the
gateway's session of the account, and its listener, which Zalo needs to confirm a personal
account's file upload. Otherwise (or with ``--direct``) this process builds the channel and
sends itself. Either way the output is the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    ChannelHandle,
    InstalledPlugin,
    channel_id,
    choose_channel,
    enabled_account,
    error_line,
    installed_plugins,
    load_cli_config,
    open_channel,
)
from zalogate.cli.errors import CliError
from zalogate.cli.gateway import configured_gateway_url, gateway_health
from zalogate.cli.options import AccountOpt, ChannelOpt, JsonOpt
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.config import ZalogateConfig
from zalogate.core.model import DeliveryReceipt
from zalogate.core.targets import TargetError, parse_target, split_provider_prefix
from zalogate.runtime.control import ControlError, MessageRequest, deliver, read_token_file
from zalogate.runtime.control import send_message as gateway_send

__all__ = ["app", "send_message"]

log = logging.getLogger(__name__)


app = typer.Typer(help="Send messages through a channel.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Send messages through a channel."""


@app.command("send")
def send_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="Chat id, or a prefixed target: zalo:<id>, group:<id>, zlu:g:<id>, ...",
        ),
    ],
    text: Annotated[str, typer.Option("--message", "-m", help="The text to send.")] = "",
    channel: ChannelOpt = None,
    media: Annotated[
        list[str] | None,
        typer.Option("--media", help="Image URL or local file (repeatable; text is the caption)."),
    ] = None,
    link: Annotated[str | None, typer.Option("--link", help="A link to share.")] = None,
    reply_to: Annotated[
        str | None, typer.Option("--reply-to", help="Quote this message id (if supported).")
    ] = None,
    account: AccountOpt = None,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="Send from this process even when a gateway runs (not through the gateway).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send a message (text, media or a link) to a Zalo chat, through the running gateway
    when there is one."""
    try:
        result = _send(ctx, target, text, channel, media or [], link, reply_to, account, direct)
    except CliError as exc:
        if as_json:
            print_json({"ok": False, "error": str(exc)})
            raise typer.Exit(exc.exit_code) from exc
        raise
    if as_json:
        print_json(result)
        return
    ids = ", ".join(result["messageIds"]) or "(no id)"
    out_console.print(
        f"Sent to {result['target']} via {result['channel']}/{result['accountId']}:"
        f" message id {ids}",
        markup=False,
    )


def _send(
    ctx: typer.Context,
    raw_target: str,
    text: str,
    channel: str | None,
    media: list[str],
    link: str | None,
    reply_to: str | None,
    account_id: str | None,
    direct: bool = False,
) -> dict[str, Any]:
    plugins = installed_plugins()
    config, state_dir = load_cli_config(get_state(ctx))
    chosen = _choose_channel(config, channel, raw_target, plugins)
    target = _target(raw_target, chosen)
    media_refs = tuple(_media_ref(item) for item in media)
    if link is not None and not link.strip():
        raise CliError("--link is empty")
    if not text.strip() and not media_refs and link is None:
        raise CliError("nothing to send: give --message, --media or --link")
    request = MessageRequest(
        target=target,
        text=text,
        media=media_refs,
        link=link.strip() if link else None,
        reply_to=reply_to or None,
    )
    if not direct:
        through = _through_gateway(config, state_dir, chosen, account_id, request)
        if through is not None:
            return through

    async def run() -> dict[str, Any]:
        async with open_channel(config, state_dir, chosen, plugins=plugins, acts=True) as handle:
            selected = handle.account(account_id)
            receipt = await send_message(
                handle,
                selected,
                target,
                text=text,
                media=media_refs,
                link=link.strip() if link else None,
                reply_to=reply_to,
            )
            return {
                "ok": True,
                "channel": chosen,
                "accountId": selected.account_id,
                "target": target,
                "messageIds": list(receipt.message_ids),
            }

    return asyncio.run(run())


async def send_message(
    handle: ChannelHandle,
    account: Any,
    target: str,
    *,
    text: str = "",
    media: tuple[str, ...] = (),
    link: str | None = None,
    reply_to: str | None = None,
) -> DeliveryReceipt:
    """Send through ``handle.channel``; a failed or partial delivery raises ``CliError``.

    A link goes through the channel's ``send_link`` when it has one, else it is appended to
    the text (Zalo shows a preview for a URL in a text message).
    """
    request = MessageRequest(target, text, media, link, reply_to or None)
    try:
        receipt = await deliver(handle.channel, account, request)
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"{handle.id}: sending failed: {error_line(exc)}") from exc
    if receipt.error:
        sent = ", ".join(receipt.message_ids)
        extra = f" (sent before the failure: {sent})" if receipt.partial and sent else ""
        raise CliError(
            f"{handle.id}: sending failed: {error_line(Exception(receipt.error))}{extra}"
        )
    if not receipt.message_ids:
        raise CliError(f"{handle.id}: sending failed: Zalo returned no message id")
    return receipt


def _through_gateway(
    config: ZalogateConfig,
    state_dir: Path,
    channel: str,
    account_id: str | None,
    request: MessageRequest,
) -> dict[str, Any] | None:
    """Send through the running gateway; None when there is none to send through.

    None (send from this process) when: the account is not a configured, enabled one (this
    process then reports it as today), no token file, no gateway answers ``/healthz``, the
    connection fails, or the gateway does not run that account (404: it started with another
    config, or predates the message route).

    Raises:
        CliError: The gateway answered but refused or failed the send.
    """
    try:
        account = enabled_account(config, channel, account_id)
    except CliError:
        return None  # this process reports the unknown or disabled account itself
    token = read_token_file(state_dir)
    if token is None:
        return None
    url = configured_gateway_url(config)

    async def ask() -> dict[str, Any] | None:
        if await gateway_health(url) is None:
            return None
        return await gateway_send(url, token, channel, account, request)

    try:
        result = asyncio.run(ask())
    except ControlError as exc:
        if exc.unreachable or exc.status_code == 404:
            log.debug("not sending through the gateway at %s: %s", url, exc)
            return None
        raise _gateway_error(channel, account, exc) from None
    if result is not None:
        log.debug("sent through the gateway at %s", url)
    return result


def _gateway_error(channel: str, account: str, exc: ControlError) -> CliError:
    """The gateway's refusal as the line a send from this process would print."""
    if exc.status_code == 502:
        sent = ", ".join(exc.message_ids)
        extra = f" (sent before the failure: {sent})" if sent else ""
        return CliError(f"{channel}: sending failed: {exc.detail}{extra}")
    if exc.status_code == 409:
        return CliError(
            f"{channel}: sending failed: the running gateway cannot send now: {exc.detail}"
            f" (see `zalogate channels status --channel {channel}`)"
        )
    if exc.status_code == 401:
        return CliError(
            f"{channel}: sending failed: {exc} (pass --direct to send from this process)"
        )
    return CliError(f"{channel}: sending failed: {exc}")


def _choose_channel(
    config: ZalogateConfig, raw: str | None, target: str, plugins: Sequence[InstalledPlugin]
) -> str:
    prefixed, _ = split_provider_prefix(target)
    if not raw and prefixed is not None:
        return channel_id(prefixed, plugins)
    return choose_channel(config, raw, plugins)


def _target(raw: str, channel: str) -> str:
    try:
        return parse_target(raw, channel).canonical
    except TargetError as exc:
        raise CliError(f"--target: {exc}") from exc


def _media_ref(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise CliError("--media is empty: No photo URL provided")
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise CliError(f"--media: {value} is neither a URL nor a readable file")
    return str(path.resolve())


def _add_schedule_commands() -> None:
    from zalogate.cli.schedule import app as schedule_app

    app.add_typer(schedule_app, name="schedule")


_add_schedule_commands()
