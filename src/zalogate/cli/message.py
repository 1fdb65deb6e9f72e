"""`zalogate message send`: send one message through a channel account, without a gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    ChannelHandle,
    InstalledPlugin,
    channel_id,
    error_line,
    installed_plugins,
    load_cli_config,
    open_channel,
    resolved_accounts,
)
from zalogate.cli.errors import CliError
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.config import ZalogateConfig
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.core.targets import PROVIDER_PREFIXES, TargetError, parse_target

__all__ = ["app", "send_message"]

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
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", help="zalo or zalouser (needed when several channels are configured)."
        ),
    ] = None,
    media: Annotated[
        list[str] | None,
        typer.Option("--media", help="Image URL or local file (repeatable; text is the caption)."),
    ] = None,
    link: Annotated[str | None, typer.Option("--link", help="A link to share.")] = None,
    reply_to: Annotated[
        str | None, typer.Option("--reply-to", help="Quote this message id (if supported).")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Send from this account (default account).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Send a message (text, media or a link) to a Zalo chat."""
    try:
        result = _send(ctx, target, text, channel, media or [], link, reply_to, account)
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

    async def run() -> dict[str, Any]:
        async with open_channel(config, state_dir, chosen, plugins=plugins) as handle:
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
    send_link = getattr(handle.channel, "send_link", None)
    try:
        if link is not None and callable(send_link) and not media:
            receipt: DeliveryReceipt = await send_link(account, target, link, text)
        else:
            body = text if link is None else (f"{text}\n{link}" if text.strip() else link)
            payload = ReplyPayload(text=body, media_urls=media, reply_to_id=reply_to or None)
            receipt = await handle.channel.send(account, target, payload)
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


def _choose_channel(
    config: ZalogateConfig, raw: str | None, target: str, plugins: Sequence[InstalledPlugin]
) -> str:
    if raw:
        return channel_id(raw, plugins)
    lowered = target.strip().lower()
    for name, prefixes in PROVIDER_PREFIXES.items():
        if any(lowered.startswith(prefix + ":") for prefix in prefixes):
            return channel_id(name, plugins)
    configured = [p.id for p in plugins if resolved_accounts(config, p.id)]
    if len(configured) == 1:
        return configured[0]
    if not configured:
        raise CliError("no channel is configured; pass --channel zalo or --channel zalouser")
    raise CliError(f"several channels are configured ({', '.join(configured)}); pass --channel")


def _target(raw: str, channel: str) -> str:
    if channel not in PROVIDER_PREFIXES:
        if not raw.strip():
            raise CliError("--target is empty: No chat_id provided")
        return raw.strip()  # a third-party channel parses its own targets
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
