"""`zalogate channels`: list the channel accounts, show their status, log in and out, restart.

``status`` works without a running gateway: the config facts come from the config and the
channel's optional ``account_snapshot`` (see :mod:`zalogate.cli.channel_access`); the runtime
facts (state, last inbound/outbound, last error) come from the gateway's ``/healthz`` when it
answers on the configured host and port, else from the state store (the inbox journal and the
delivery records); ``--probe`` asks Zalo through ``channel.probe`` (5 s limit per account).
Nothing printed ever holds a secret: only where a token comes from.

``login``, ``logout`` and ``restart`` reach a running gateway through its control endpoint
(:mod:`zalogate.runtime.control`): the gateway is the one answering ``/healthz`` on the
configured host and port, the bearer token is read from ``<state dir>/gateway.token``. After
a login the gateway restarts the account with the new session (not when the user kept the
existing session: it is the one the gateway already uses); before a logout it stops the
account (its listener would otherwise keep the old session); ``restart`` restarts one account
(after closing the other Zalo Web session, close 3000).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from zalogate.cli.channel_access import (
    InstalledPlugin,
    InteractiveLogin,
    bounded,
    build_channel,
    channel_id,
    close_channel,
    enabled_account,
    error_line,
    installed_plugins,
    load_cli_config,
    open_channel,
    resolved_accounts,
)
from zalogate.cli.errors import CliError
from zalogate.cli.gateway import configured_gateway_url, gateway_health
from zalogate.cli.state import err_console, get_state, out_console, print_json
from zalogate.config import ResolvedAccount, ZalogateConfig, normalize_account_id
from zalogate.core.channel import Channel, ChannelAccount, Login, ProbeResult
from zalogate.runtime.control import (
    ControlError,
    ControlResult,
    account_action,
    read_token_file,
    token_path,
)
from zalogate.runtime.plugins import PluginError, PluginInfo, list_plugins
from zalogate.store import DATABASE_FILENAME, Store, write_private_file

__all__ = ["PROBE_TIMEOUT", "ConsoleLoginUI", "app", "config_warnings", "zalo_credential_origin"]

PROBE_TIMEOUT = 5.0
"""Seconds one account's ``--probe`` may take."""
_BOT_ENV_VAR = "ZALO_BOT_TOKEN"

app = typer.Typer(
    help="Channel accounts: list, status, login, logout, restart.", no_args_is_help=True
)


# -- list -------------------------------------------------------------------------------


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
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
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    probe: Annotated[
        bool, typer.Option("--probe", help="Check the credentials with Zalo (5 s per account).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Configured accounts: mode, token source, policies, warnings, last activity, probe."""
    plugins = installed_plugins()
    only = channel_id(channel, plugins) if channel else None
    config, state_dir = load_cli_config(get_state(ctx))
    url = configured_gateway_url(config)
    report = asyncio.run(
        _status(config, state_dir, plugins, only, account, probe=probe, gateway_url=url)
    )
    if account is not None and not any(c["accounts"] for c in report["channels"]):
        raise CliError(f"no configured account {account!r}")
    if as_json:
        print_json(report)
        return
    _print_status(report)


async def _status(
    config: ZalogateConfig,
    state_dir: Path,
    plugins: Sequence[InstalledPlugin],
    only: str | None,
    account_filter: str | None,
    *,
    probe: bool,
    gateway_url: str,
) -> dict[str, Any]:
    live = await _healthz(gateway_url)
    store_existed = (state_dir / DATABASE_FILENAME).exists()
    report: dict[str, Any] = {
        "gateway": {"url": gateway_url, "reachable": live is not None},
        "channels": [],
    }
    chosen = [p for p in plugins if only is None or p.id == only]
    if not store_existed and not probe and all(_no_channel_needed(config, p) for p in chosen):
        # Nothing to read and nothing to build: do not create a state dir just to say so.
        report["channels"] = [_channel_block(config, p, [], {}) for p in chosen]
        return report
    async with await Store.open(state_dir) as store:
        for plugin in chosen:
            resolved = resolved_accounts(config, plugin.id) if plugin.plugin is not None else []
            if account_filter is not None:
                wanted = normalize_account_id(account_filter)
                resolved = [a for a in resolved if a.account_id == wanted]
            channel: Channel | None = None
            setup_error: str | None = None
            if resolved:
                try:
                    channel = await build_channel(plugin, config, state_dir, store)
                except CliError as exc:
                    setup_error = str(exc)
            try:
                accounts = await _accounts_status(
                    config, plugin.id, resolved, channel, store, live, probe=probe
                )
            finally:
                if channel is not None:
                    await close_channel(channel)
            block = _channel_block(config, plugin, accounts, {"setupError": setup_error})
            report["channels"].append(block)
    return report


def _no_channel_needed(config: ZalogateConfig, plugin: InstalledPlugin) -> bool:
    return plugin.plugin is None or not resolved_accounts(config, plugin.id)


def _channel_block(
    config: ZalogateConfig,
    plugin: InstalledPlugin,
    accounts: list[dict[str, Any]],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "channel": plugin.id,
        "label": plugin.label,
        "loadError": plugin.error,
        "configured": bool(accounts),
        "setupError": extra.get("setupError"),
        "accounts": accounts,
    }


async def _accounts_status(
    config: ZalogateConfig,
    channel_name: str,
    resolved: Sequence[ResolvedAccount],
    channel: Channel | None,
    store: Store,
    live: Mapping[tuple[str, str], Mapping[str, Any]] | None,
    *,
    probe: bool,
) -> list[dict[str, Any]]:
    by_id: dict[str, ChannelAccount] = {}
    if channel is not None:
        by_id = {a.account_id: a for a in channel.accounts()}
    rows: list[dict[str, Any]] = []
    probes: list[asyncio.Task[dict[str, Any]]] = []
    for item in resolved:
        row = _config_facts(config, channel_name, item, channel, by_id.get(item.account_id))
        key = (channel_name, item.account_id)
        if live is not None:
            row["runtime"] = _live_runtime(live.get(key))
        else:
            row["runtime"] = await _stored_runtime(store, *key)
        account = by_id.get(item.account_id)
        if probe:
            if channel is None or account is None:
                probes.append(asyncio.create_task(_no_probe("the channel could not be set up")))
            elif not item.enabled:
                probes.append(asyncio.create_task(_no_probe("disabled")))
            else:
                probes.append(asyncio.create_task(_probe(channel, account)))
        rows.append(row)
    for row, task in zip(rows, probes, strict=False):
        row["probe"] = await task
    return rows


def _config_facts(
    config: ZalogateConfig,
    channel_name: str,
    item: ResolvedAccount,
    channel: Channel | None,
    account: ChannelAccount | None,
) -> dict[str, Any]:
    """The config facts of one account: the channel's ``account_snapshot`` when it has one,
    else what the config alone tells."""
    settings = item.settings
    snapshot: dict[str, Any] = {}
    describe = getattr(channel, "account_snapshot", None)
    snapshot_error: str | None = None
    if account is not None and callable(describe):
        try:
            snapshot = dict(describe(account))
        except Exception as exc:
            snapshot_error = f"account_snapshot failed: {error_line(exc)}"
    facts: dict[str, Any] = {
        "accountId": item.account_id,
        "name": item.name,
        "enabled": item.enabled,
        "default": item.is_default,
        "configured": None,
        "mode": None,
        "tokenSource": None,
        "dmPolicy": _text(settings.get("dmPolicy")) or "pairing",
        "groupPolicy": _group_policy(config, settings, channel_name),
    }
    if channel_name == "zalo":
        origin = zalo_credential_origin(item, dict(os.environ))
        facts["tokenSource"] = origin
        facts["mode"] = "webhook" if _text(settings.get("webhookUrl")) else "polling"
        facts["configured"] = origin != "none"
    channel_warnings = [str(w) for w in snapshot.pop("warnings", None) or ()]
    facts.update({k: v for k, v in snapshot.items() if v is not None or k not in facts})
    warnings = config_warnings(
        config,
        channel_name,
        item,
        credential_origin=facts["tokenSource"],
        policies=not snapshot,
        token_file=not snapshot.get("tokenStatus"),
    )
    if snapshot.get("tokenStatus") not in (None, "available") and snapshot.get("tokenDetail"):
        warnings.append(str(snapshot["tokenDetail"]))
    if snapshot_error:
        warnings.append(snapshot_error)
    warnings += [w for w in channel_warnings if w not in warnings]
    facts["warnings"] = warnings
    return facts


def zalo_credential_origin(account: ResolvedAccount, env: Mapping[str, str]) -> str:
    """Where a zalo account's token comes from: ``config``, ``configFile``, ``env`` or ``none``.

    Used when the channel cannot be built to say it itself; the order of issue 4 (and of the
    channel): the account's ``botToken`` (a blank one blocks inheritance), its ``tokenFile``,
    then for the default account only the top-level ``botToken`` and ``tokenFile`` (unless it
    has a ``botToken`` key of its own) and ``ZALO_BOT_TOKEN``.
    """
    own, base = account.own, account.base
    if "botToken" in own:
        if _present(own.get("botToken")):
            return "config"
        return "configFile" if _text(own.get("tokenFile")) else "none"
    if _text(own.get("tokenFile")):
        return "configFile"
    if not account.is_default:
        return "none"
    if _present(base.get("botToken")):
        return "config"
    if _text(base.get("tokenFile")):
        return "configFile"
    return "env" if env.get(_BOT_ENV_VAR, "").strip() else "none"


def config_warnings(
    config: ZalogateConfig,
    channel_name: str,
    account: ResolvedAccount,
    *,
    credential_origin: str | None,
    policies: bool = True,
    token_file: bool = True,
) -> list[str]:
    """Risky or broken settings of one account, as ``channels status`` shows them.

    Args:
        config: The root config (for ``channels.defaults.groupPolicy``).
        channel_name: The channel id.
        account: The account.
        credential_origin: Where the token comes from (zalo), if known.
        policies: Include the open DM/group policy warnings (off when the channel gives
            its own).
        token_file: Check the zalo ``tokenFile`` (off when the channel reports on it).
    """
    settings = account.settings
    warnings: list[str] = []
    if not account.enabled:
        return warnings

    def key(name: str) -> str:
        """The key path where ``name`` is written for this account."""
        if name in account.own:
            return f"channels.{channel_name}.accounts.{account.account_id}.{name}"
        return f"channels.{channel_name}.{name}"

    if policies and _text(settings.get("dmPolicy")) == "open":
        warnings.append(
            f'{key("dmPolicy")} is "open": any user can message the bot without pairing'
            ' (set it to "pairing" or "allowlist")'
        )
    if policies and _group_policy(config, settings, channel_name) == "open":
        warnings.append(
            f'{key("groupPolicy")} is "open": any member of any group can trigger the agent'
            ' (set groupPolicy to "allowlist" with groupAllowFrom)'
        )
    if policies and _env_only_zalo(config, channel_name):
        warnings.append(
            f"channels.zalo is not in the config (token from {_BOT_ENV_VAR}): group messages"
            " are dropped until you write channels.zalo.groupPolicy"
        )
    if channel_name == "zalo":
        url = _text(settings.get("webhookUrl"))
        if url and not _present(settings.get("webhookSecret")):
            warnings.append(
                f"{key('webhookUrl')} is set without webhookSecret: the webhook cannot start"
                " (8-256 characters)"
            )
        if url and not url.lower().startswith("https://"):
            warnings.append(f"{key('webhookUrl')} must be an https:// URL")
        file_name = _text(account.own.get("tokenFile")) or _text(account.base.get("tokenFile"))
        if token_file and credential_origin == "configFile" and file_name:
            file = Path(file_name).expanduser()
            if file.is_symlink():
                warnings.append(f"{key('tokenFile')} {file_name} is a symlink and is refused")
            elif not file.is_file():
                warnings.append(f"{key('tokenFile')} {file_name} does not exist")
        if credential_origin == "none":
            warnings.append(
                f"no bot token for account {account.account_id} (set botToken or tokenFile"
                f" in channels.{channel_name}, or {_BOT_ENV_VAR} for the default account)"
            )
    return warnings


def _group_policy(
    config: ZalogateConfig, settings: Mapping[str, Any], channel_name: str | None = None
) -> str:
    own = _text(settings.get("groupPolicy"))
    if own:
        return own
    if channel_name is not None and _env_only_zalo(config, channel_name):
        return "allowlist"  # fail-closed; channels.defaults.groupPolicy does not apply
    return config.channels.defaults.group_policy or "open"


def _env_only_zalo(config: ZalogateConfig, channel_name: str) -> bool:
    """A zalo account without a ``channels.zalo`` section (its token is ZALO_BOT_TOKEN)."""
    return channel_name == "zalo" and config.channels.zalo is None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _present(value: Any) -> bool:
    """A secret value (string, SecretStr or a secret reference) that is not blank."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        value = reveal()
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, Mapping) and bool(value)


async def _probe(channel: Channel, account: ChannelAccount) -> dict[str, Any]:
    try:
        result: ProbeResult = await bounded(channel.probe(account), PROBE_TIMEOUT, "the probe")
    except CliError as exc:
        return {"ok": False, "detail": str(exc), "identity": {}, "elapsedMs": None}
    except Exception as exc:
        return {"ok": False, "detail": error_line(exc), "identity": {}, "elapsedMs": None}
    return {
        "ok": result.ok,
        "detail": result.detail,
        "identity": dict(result.identity),
        "warnings": list(result.warnings),
        "elapsedMs": result.elapsed_ms,
    }


async def _no_probe(reason: str) -> dict[str, Any]:
    return {"ok": False, "detail": f"not probed: {reason}", "identity": {}, "elapsedMs": None}


async def _healthz(url: str) -> dict[tuple[str, str], Mapping[str, Any]] | None:
    """The running gateway's account records, or None when no gateway answers."""
    body = await gateway_health(url)
    records = body.get("accounts") if body is not None else None
    if not isinstance(records, list):
        return None
    return {
        (str(r.get("channel")), str(r.get("account"))): r for r in records if isinstance(r, Mapping)
    }


def _live_runtime(record: Mapping[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {"source": "gateway", "state": "not running"}
    return {
        "source": "gateway",
        "state": record.get("state"),
        "lastInboundAt": record.get("lastInboundAt"),
        "lastOutboundAt": record.get("lastOutboundAt"),
        "lastError": record.get("lastError"),
        "restarts": record.get("restarts"),
        "reason": record.get("reason"),
    }


async def _stored_runtime(store: Store, channel: str, account: str) -> dict[str, Any]:
    """Last activity recorded in the state store by earlier gateway runs."""
    key = (channel, account)
    inbound = await store.fetchone(
        "SELECT MAX(admitted_at_ms) AS at FROM inbox_entries WHERE channel = ? AND account_id = ?",
        key,
    )
    outbound = await store.fetchone(
        "SELECT MAX(created_at_ms) AS at FROM pipeline_deliveries"
        " WHERE channel = ? AND account_id = ? AND status IN ('sent', 'partial')",
        key,
    )
    errors = await store.fetchall(
        "SELECT at, error FROM ("
        " SELECT COALESCE(finished_at_ms, admitted_at_ms) AS at, last_error AS error"
        " FROM inbox_entries WHERE channel = ? AND account_id = ? AND last_error IS NOT NULL"
        " UNION ALL SELECT created_at_ms AS at, error FROM pipeline_deliveries"
        " WHERE channel = ? AND account_id = ? AND error IS NOT NULL"
        ") ORDER BY at DESC LIMIT 1",
        (*key, *key),
    )
    return {
        "source": "state store",
        "state": "not running",
        "lastInboundAt": inbound["at"] if inbound else None,
        "lastOutboundAt": outbound["at"] if outbound else None,
        "lastError": errors[0]["error"] if errors else None,
    }


def _when(ms: Any) -> str:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_status(report: Mapping[str, Any]) -> None:
    gateway = report["gateway"]
    if gateway["reachable"]:
        out_console.print(f"Gateway reachable at {gateway['url']}.", markup=False)
    else:
        out_console.print(
            f"No gateway at {gateway['url']}: showing the config and the state store.",
            markup=False,
        )
    for block in report["channels"]:
        head = f"{block['channel']} ({block['label']})"
        if block["loadError"]:
            out_console.print(f"{head}: failed to load: {block['loadError']}", markup=False)
            continue
        if not block["accounts"]:
            out_console.print(f"{head}: not configured", markup=False)
            continue
        out_console.print(head, markup=False)
        if block["setupError"]:
            out_console.print(f"  ! {block['setupError']}", markup=False)
        for row in block["accounts"]:
            _print_account(row)


def _print_account(row: Mapping[str, Any]) -> None:
    tags = ["enabled" if row["enabled"] else "disabled"]
    if row["configured"] is not None:
        tags.append("configured" if row["configured"] else "not configured")
    if row["mode"]:
        tags.append(str(row["mode"]))
    if row["tokenSource"]:
        tags.append(f"token: {row['tokenSource']}")
    if row["default"]:
        tags.append("default")
    name = f" ({row['name']})" if row["name"] else ""
    out_console.print(f"- {row['accountId']}{name}: {', '.join(tags)}", markup=False)
    out_console.print(
        f"    dmPolicy {row['dmPolicy']}, groupPolicy {row['groupPolicy']}", markup=False
    )
    runtime = row["runtime"]
    line = f"    {runtime['state']} ({runtime['source']})"
    if "lastInboundAt" in runtime:
        line += (
            f"; last inbound {_when(runtime.get('lastInboundAt'))}"
            f"; last outbound {_when(runtime.get('lastOutboundAt'))}"
        )
    out_console.print(line, markup=False)
    if runtime.get("reason"):
        out_console.print(f"    {runtime['reason']}", markup=False)
    if runtime.get("lastError"):
        out_console.print(f"    last error: {runtime['lastError']}", markup=False)
    probe = row.get("probe")
    if probe is not None:
        if probe["ok"]:
            identity = probe.get("identity") or {}
            who = next(
                (
                    str(identity[k])
                    for k in ("account_name", "displayName", "name", "id")
                    if identity.get(k)
                ),
                "",
            )
            elapsed = probe.get("elapsedMs")
            took = f" in {elapsed:.0f} ms" if isinstance(elapsed, int | float) else ""
            out_console.print(f"    probe: works{f' ({who})' if who else ''}{took}", markup=False)
        else:
            out_console.print(f"    probe failed: {probe['detail']}", markup=False)
    for warning in row["warnings"]:
        out_console.print(f"    warning: {warning}", markup=False)


# -- login / logout ---------------------------------------------------------------------


class ConsoleLoginUI:
    """The terminal side of an interactive login (implements ``LoginUI``)."""

    def __init__(self, state_dir: Path, channel: str, account_id: str) -> None:
        self._qr_path = state_dir / "tmp" / f"{channel}-login-qr-{account_id}.png"
        self.declined = False
        """A question was answered no (zalouser: "replace the session?")."""
        self.qr_shown = False

    @property
    def kept_session(self) -> bool:
        """True when the user declined to replace the session and no new login happened."""
        return self.declined and not self.qr_shown

    def info(self, message: str) -> None:
        """Print a progress line."""
        out_console.print(message, markup=False)

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Ask on the terminal; without one, take ``default``."""
        if not sys.stdin.isatty():
            answer = default
        else:
            answer = await asyncio.to_thread(typer.confirm, question, default=default)
        if not answer:
            self.declined = True
        return answer

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Save the QR image (0600), draw it with half blocks when its text is known."""
        self.qr_shown = True
        path = write_private_file(self._qr_path, png)
        if payload:
            import segno

            segno.make(payload, error="l").terminal(out=sys.stdout, compact=True)
        out_console.print(f"QR image saved to: {path}", markup=False)
        return path


def _login_channel(
    ctx: typer.Context, channel: str
) -> tuple[Any, Path, str, list[InstalledPlugin]]:
    """Config, state dir, channel id and plugins for login/logout; a bot-token channel errs."""
    plugins = installed_plugins()
    chosen = channel_id(channel, plugins)
    config, state_dir = load_cli_config(get_state(ctx))
    if chosen == "zalo":
        raise CliError(_token_channel_message(chosen))
    return config, state_dir, chosen, plugins


def _token_channel_message(channel: str) -> str:
    return (
        f"the {channel} channel (Zalo Bot API) uses a bot token, there is nothing to log in to:"
        f" set channels.{channel}.botToken or tokenFile (or {_BOT_ENV_VAR}), then check it with"
        f" `zalogate channels status --channel {channel} --probe`"
    )


@app.command("login")
def login_command(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", help="zalouser.")] = "zalouser",
    account: Annotated[str | None, typer.Option("--account", help="The account.")] = None,
) -> None:
    """Log an account in (zalouser: scan a QR code with the Zalo app)."""
    config, state_dir, chosen, plugins = _login_channel(ctx, channel)

    async def run() -> tuple[str, ChannelAccount, bool]:
        async with open_channel(config, state_dir, chosen, plugins=plugins) as handle:
            target = handle.account(account, require_enabled=False)
            if not isinstance(handle.channel, InteractiveLogin):
                raise CliError(f"the {chosen} channel has no interactive login")
            ui = ConsoleLoginUI(state_dir, chosen, target.account_id)
            try:
                line = await handle.channel.login_interactive(target, ui)
            except CliError:
                raise
            except Exception as exc:
                raise CliError(f"{chosen} login failed: {error_line(exc)}") from exc
            return line, target, ui.kept_session

    line, target, kept = asyncio.run(run())
    out_console.print(line, markup=False)
    if not target.enabled or kept:
        # A disabled account does not run; a kept session is the one the gateway already has.
        return
    asked = asyncio.run(_ask_gateway(config, state_dir, chosen, target.account_id, "restart"))
    if asked.result is not None:
        out_console.print(
            f"The running gateway restarted account {target.account_id} with the new session"
            f"{_state_note(asked.result)}.",
            markup=False,
        )
    elif not asked.reachable:
        out_console.print(
            "A running gateway picks the new session up when it restarts (zalogate gateway run).",
            markup=False,
        )
    else:
        out_console.print(
            f"{asked.problem}. To use the new session now:"
            f" {_restart_hint(chosen, target.account_id)} (or restart the gateway).",
            markup=False,
        )


@app.command("logout")
def logout_command(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", help="zalouser.")] = "zalouser",
    account: Annotated[str | None, typer.Option("--account", help="The account.")] = None,
) -> None:
    """Forget an account's saved session (zalouser)."""
    config, state_dir, chosen, plugins = _login_channel(ctx, channel)

    async def run() -> bool:
        async with open_channel(config, state_dir, chosen, plugins=plugins) as handle:
            target = handle.account(account, require_enabled=False)
            if not isinstance(handle.channel, Login):
                raise CliError(f"the {chosen} channel has no saved session to clear")
            if target.enabled:
                # First, so that the gateway's listener lets go of the session being deleted.
                await _stop_in_gateway(config, state_dir, chosen, target.account_id)
            try:
                return await handle.channel.logout(target)
            except Exception as exc:
                raise CliError(f"{chosen} logout failed: {error_line(exc)}") from exc

    cleared = asyncio.run(run())
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
    channel: Annotated[str, typer.Option("--channel", help="zalo or zalouser.")],
    account: Annotated[
        str | None, typer.Option("--account", help="The account (default: the default one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Restart one account of the running gateway now, e.g. after closing the other Zalo Web
    session (close 3000). The other accounts keep running."""
    plugins = installed_plugins()
    chosen = channel_id(channel, plugins)
    config, state_dir = load_cli_config(get_state(ctx))
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
    if await _healthz(url) is None:
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
