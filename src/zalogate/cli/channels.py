"""`zalogate channels`: list the channel accounts, show their status, log in and out, restart.

``status`` works without a running gateway (see :mod:`zalogate.cli.channel_status`).

``login``, ``logout`` and ``restart`` reach a running gateway through its control endpoint
(:mod:`zalogate.runtime.control`): the gateway is the one answering ``/healthz`` on the
configured host and port, the bearer token is read from ``<state dir>/gateway.token``. After
a login the gateway restarts the account with the new session (not when the user kept the
existing session: it is the one the gateway already uses); before a logout it stops the
account (its listener would otherwise keep the old session); ``restart`` restarts one account
(after closing the other Zalo Web session, close 3000). Login and logout go through the
channel's :class:`~zalogate.core.channel.Login` capability; a channel whose plugin's config
inspector refuses them (a bot token channel) is not even built.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    InstalledPlugin,
    channel_id,
    choose_channel,
    enabled_account,
    error_line,
    find_plugin,
    installed_plugins,
    load_cli_config,
    open_channel,
    resolved_accounts,
)
from zalogate.cli.channel_status import (
    collect_status,
    failed_probes,
    gateway_accounts,
    print_status,
)
from zalogate.cli.errors import CliError
from zalogate.cli.gateway import configured_gateway_url
from zalogate.cli.login_ui import ConsoleLoginUI
from zalogate.cli.options import AccountOpt, ChannelOpt, JsonOpt
from zalogate.cli.state import err_console, get_state, out_console, print_json
from zalogate.config import ZalogateConfig
from zalogate.core.channel import ChannelAccount
from zalogate.runtime.control import (
    ControlError,
    ControlResult,
    account_action,
    read_token_file,
    token_path,
)
from zalogate.runtime.plugins import PluginError, PluginInfo, list_plugins

__all__ = ["app"]

app = typer.Typer(
    help="Channel accounts: list, status, login, logout, restart.", no_args_is_help=True
)


# -- list -------------------------------------------------------------------------------


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Every installed channel plugin and the accounts the config gives it."""
    config, state_dir = load_cli_config(get_state(ctx))
    enablement = _plugin_enablement(config, state_dir)
    channels: list[dict[str, Any]] = []
    for plugin in installed_plugins():
        accounts = resolved_accounts(config, plugin.id) if plugin.plugin is not None else []
        info = enablement.get(plugin.id)
        channels.append(
            {
                "channel": plugin.id,
                "label": plugin.label,
                "installed": True,
                "pluginEnabled": info.enabled if info is not None else None,
                "pluginReason": info.reason if info is not None else None,
                "loadError": plugin.error,
                "configured": bool(accounts),
                "accounts": [
                    {
                        "accountId": a.account_id,
                        "name": a.name,
                        "enabled": a.enabled,
                        "default": a.is_default,
                    }
                    for a in accounts
                ],
            }
        )
    if as_json:
        print_json({"channels": channels})
        return
    for item in channels:
        if item["loadError"]:
            out_console.print(f"{item['channel']}: failed to load: {item['loadError']}")
            continue
        head = f"{item['channel']} ({item['label']}): installed"
        if item["pluginEnabled"] is False:
            head += f", plugin disabled ({item['pluginReason']})"
        if not item["accounts"]:
            out_console.print(f"{head}, not configured", markup=False)
            continue
        out_console.print(f"{head}, configured", markup=False)
        for account in item["accounts"]:
            tags = ["enabled" if account["enabled"] else "disabled"]
            if account["default"]:
                tags.append("default")
            name = f" ({account['name']})" if account["name"] else ""
            out_console.print(f"  - {account['accountId']}{name}: {', '.join(tags)}", markup=False)


def _plugin_enablement(config: ZalogateConfig, state_dir: Path) -> dict[str, PluginInfo]:
    """Which plugins the gateway would run (``plugins`` config and ``plugins enable``)."""
    try:
        return {info.id: info for info in list_plugins(config, state_dir=state_dir)}
    except PluginError as exc:
        err_console.print(f"warning: {error_line(exc)}", markup=False)
        return {}


# -- status -----------------------------------------------------------------------------


@app.command("status")
def status_command(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    probe: Annotated[
        bool, typer.Option("--probe", help="Check the credentials with Zalo (5 s per account).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Configured accounts: mode, token source, policies, warnings, last activity, probe."""
    plugins = installed_plugins()
    only = channel_id(channel, plugins) if channel else None
    config, state_dir = load_cli_config(get_state(ctx))
    url = configured_gateway_url(config)
    report = asyncio.run(
        collect_status(config, state_dir, plugins, only, account, probe=probe, gateway_url=url)
    )
    if account is not None and not any(c["accounts"] for c in report["channels"]):
        raise CliError(f"no configured account {account!r}")
    if as_json:
        print_json(report)
    else:
        print_status(report)
    if probe and failed_probes(report):
        raise typer.Exit(1)  # usable as a health check


def _login_refusal(plugin_id: str, plugins: list[InstalledPlugin]) -> str | None:
    plugin = find_plugin(plugin_id, plugins).plugin
    inspector = plugin.inspector if plugin is not None else None
    return inspector.login_refusal(plugin_id) if inspector is not None else None


def _login_channel(
    ctx: typer.Context, channel: str | None
) -> tuple[Any, Path, str, list[InstalledPlugin]]:
    """Config, state dir, channel id and plugins for login/logout.

    Without ``--channel``: the configured channel that logs in, else the only installed one.

    Raises:
        CliError: The plugin's config inspector says login does not apply (a bot token).
    """
    plugins = installed_plugins()
    config, state_dir = load_cli_config(get_state(ctx))
    if channel:
        chosen = channel_id(channel, plugins)
    else:
        logins = [p for p in plugins if p.plugin is not None and not _login_refusal(p.id, plugins)]
        configured = [p for p in logins if resolved_accounts(config, p.id)]
        chosen = choose_channel(config, None, configured if configured else logins)
    refusal = _login_refusal(chosen, plugins)
    if refusal:
        raise CliError(refusal)
    return config, state_dir, chosen, plugins


@app.command("login")
def login_command(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
    cookies: Annotated[
        Path | None,
        typer.Option("--cookies", help="A browser session (cookies, imei, userAgent) JSON."),
    ] = None,
) -> None:
    """Log an account in (zalouser: scan a QR code with the Zalo app, or --cookies FILE)."""
    config, state_dir, chosen, plugins = _login_channel(ctx, channel)

    async def run() -> tuple[str, ChannelAccount, bool]:
        async with open_channel(config, state_dir, chosen, plugins=plugins) as handle:
            target = handle.account(account, require_enabled=False)
            login = handle.channel.login
            if login is None:
                raise CliError(f"the {chosen} channel has no interactive login")
            ui = ConsoleLoginUI(state_dir, chosen, target.account_id)
            importer = handle.channel.session_import
            if cookies is not None and importer is None:
                raise CliError(f"the {chosen} channel cannot import a browser session")
            try:
                if cookies is not None and importer is not None:
                    line = await importer.import_session(target, cookies)
                else:
                    line = await login.login_interactive(target, ui)
            except CliError:
                raise
            except Exception as exc:
                text = error_line(exc)
                # Said once: the channel's error may already say that the login failed.
                if "login failed" not in text.lower():
                    text = f"{chosen} login failed: {text}"
                raise CliError(text) from exc
            return line, target, ui.kept_session

    line, target, kept = asyncio.run(run())
    lines = [line]
    if target.enabled and not kept:
        # A disabled account does not run; a kept session is the one the gateway already has.
        lines.append(_restart_after_login(config, state_dir, chosen, target.account_id))
    if as_json:
        print_json({"channel": chosen, "account": target.account_id, "ok": True, "messages": lines})
        return
    for text in lines:
        out_console.print(text, markup=False)


def _restart_after_login(config: Any, state_dir: Path, channel: str, account_id: str) -> str:
    """Ask a running gateway to use the new session; say what happened."""
    asked = asyncio.run(_ask_gateway(config, state_dir, channel, account_id, "restart"))
    if asked.result is not None:
        return (
            f"The running gateway restarted account {account_id} with the new session"
            f"{_state_note(asked.result)}."
        )
    if not asked.reachable:
        return "A running gateway picks the new session up when it restarts (zalogate gateway run)."
    return (
        f"{asked.problem}. To use the new session now:"
        f" {_restart_hint(channel, account_id)} (or restart the gateway)."
    )


@app.command("logout")
def logout_command(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget an account's saved session (zalouser)."""
    config, state_dir, chosen, plugins = _login_channel(ctx, channel)

    async def run() -> bool:
        async with open_channel(config, state_dir, chosen, plugins=plugins) as handle:
            target = handle.account(account, require_enabled=False)
            login = handle.channel.login
            if login is None:
                raise CliError(f"the {chosen} channel has no saved session to clear")
            if target.enabled:
                # First, so that the gateway's listener lets go of the session being deleted.
                await _stop_in_gateway(config, state_dir, chosen, target.account_id)
            try:
                return await login.logout(target)
            except Exception as exc:
                raise CliError(f"{chosen} logout failed: {error_line(exc)}") from exc

    cleared = asyncio.run(run())
    if as_json:
        print_json({"channel": chosen, "account": account, "cleared": cleared})
        return
    out_console.print(
        "Logged out and cleared local session." if cleared else "No local session to clear."
    )


async def _stop_in_gateway(
    config: ZalogateConfig, state_dir: Path, channel: str, account_id: str
) -> None:
    """Ask a running gateway to stop the account (before its session is deleted)."""
    asked = await _ask_gateway(
        config, state_dir, channel, account_id, "stop", reason="stopped by channels logout"
    )
    if asked.result is not None:
        out_console.print(f"The running gateway stopped account {account_id}.", markup=False)
    elif asked.reachable:
        out_console.print(
            f"{asked.problem}. The running gateway keeps listening with the old session until"
            " it restarts (zalogate gateway run).",
            markup=False,
        )


# -- restart ----------------------------------------------------------------------------


@app.command("restart")
def restart_command(
    ctx: typer.Context,
    channel: ChannelOpt = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restart one account of the running gateway now, e.g. after closing the other Zalo Web
    session (close 3000). The other accounts keep running."""
    plugins = installed_plugins()
    config, state_dir = load_cli_config(get_state(ctx))
    chosen = choose_channel(config, channel, plugins)
    target = enabled_account(config, chosen, account)
    asked = asyncio.run(_ask_gateway(config, state_dir, chosen, target, "restart"))
    if asked.result is None:
        hint = "" if asked.reachable else " (start it with `zalogate gateway run`)"
        raise CliError(f"{asked.problem}{hint}; nothing was restarted")
    if as_json:
        print_json({"channel": chosen, "account": dict(asked.result.account)})
        return
    out_console.print(
        f"The running gateway restarted account {chosen}/{target}{_state_note(asked.result)}.",
        markup=False,
    )
    error = asked.result.account.get("lastError")
    if asked.result.state not in ("running", "starting") and error:
        out_console.print(f"last error: {error}", markup=False)


# -- the running gateway's control endpoint ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Asked:
    """What came of asking the running gateway: its answer, or why there is none."""

    result: ControlResult | None = None
    reachable: bool = False
    """A gateway answered ``/healthz`` at the configured address."""
    problem: str | None = None


async def _ask_gateway(
    config: ZalogateConfig,
    state_dir: Path,
    channel: str,
    account_id: str,
    action: str,
    *,
    reason: str | None = None,
) -> _Asked:
    """Ask the gateway at the configured address to ``restart``/``stop`` one account."""
    url = configured_gateway_url(config)
    if await gateway_accounts(url) is None:
        return _Asked(problem=f"no gateway answers at {url}")
    token = read_token_file(state_dir)
    if token is None:
        return _Asked(
            reachable=True,
            problem=(
                f"the gateway at {url} left no control token in {token_path(state_dir)}"
                " (does it use another state dir?)"
            ),
        )
    try:
        result = await account_action(url, token, channel, account_id, action, reason=reason)
    except ControlError as exc:
        return _Asked(reachable=not exc.unreachable, problem=str(exc))
    return _Asked(result=result, reachable=True)


def _state_note(result: ControlResult) -> str:
    """`` (now running)``, or the state the account is in instead."""
    return f" (now {result.state})"


def _restart_hint(channel: str, account_id: str) -> str:
    suffix = "" if account_id == "default" else f" --account {account_id}"
    return f"zalogate channels restart --channel {channel}{suffix}"
