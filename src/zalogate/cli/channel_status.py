"""``channels status``: what the config, the state store, a running gateway and Zalo say
about each account.

The config facts come from the channel's ``account_snapshot`` when it can be built, else
from what the config alone tells (the plugin's
:class:`~zalogate.core.inspection.ConfigInspector` adds the channel's own facts and
warnings); the runtime facts (state, last inbound/outbound, last error) come from the
gateway's ``/healthz`` when it answers on the configured host and port, else from the state
store (:mod:`zalogate.core.activity`); ``--probe`` asks Zalo through ``channel.probe``
(:data:`PROBE_TIMEOUT` per account). Nothing printed ever holds a secret: only where a token
comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zalogate.cli.channel_access import (
    InstalledPlugin,
    bounded,
    build_channel,
    close_channel,
    error_line,
    read_store,
    resolved_accounts,
)
from zalogate.cli.errors import CliError
from zalogate.cli.gateway import gateway_health
from zalogate.cli.state import out_console
from zalogate.config import ResolvedAccount, ZalogateConfig, normalize_account_id
from zalogate.core.activity import account_activity
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.inspection import ConfigInspector, setting_path, setting_text
from zalogate.core.traits import traits_for
from zalogate.runtime.wiring import OneOffCluster, cluster_one_off
from zalogate.store import DATABASE_FILENAME, Store

__all__ = ["PROBE_TIMEOUT", "collect_status", "gateway_accounts", "print_status"]

PROBE_TIMEOUT = 5.0
"""Seconds one account's ``--probe`` may take."""


async def collect_status(
    config: ZalogateConfig,
    state_dir: Path,
    plugins: Sequence[InstalledPlugin],
    only: str | None,
    account_filter: str | None,
    *,
    probe: bool,
    gateway_url: str,
) -> dict[str, Any]:
    """The ``--json`` report of ``channels status`` for the ``chosen`` plugins (all when
    ``only`` is None) and accounts."""
    live = await gateway_accounts(gateway_url)
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
    async with contextlib.AsyncExitStack() as stack:
        cluster = OneOffCluster()
        unreachable: str | None = None
        if probe:  # in a cluster: a personal account probed by its node, an OA's shared pair
            ids = [plugin.id for plugin in chosen]
            one_off = cluster_one_off(config, ids, name="zalogate:channels-status", acts=True)
            try:
                cluster = await stack.enter_async_context(one_off)
            except ConnectionError as exc:
                unreachable = f"not asked: the cluster is out of reach ({error_line(exc)})"
        store = await stack.enter_async_context(read_store(state_dir))
        for plugin in chosen:
            resolved = resolved_accounts(config, plugin.id) if plugin.plugin is not None else []
            if account_filter is not None:
                wanted = normalize_account_id(account_filter)
                resolved = [a for a in resolved if a.account_id == wanted]
            channel: Channel | None = None
            setup_error: str | None = None
            if resolved:
                try:
                    channel = await build_channel(
                        plugin, config, state_dir, store, token_stores=cluster.token_stores
                    )
                except CliError as exc:
                    setup_error = str(exc)
            refused = None
            traits = traits_for(plugin.id)
            if unreachable and (traits.sends_need_session_owner or traits.shared_credentials):
                refused = unreachable
            try:
                accounts = await _accounts_status(
                    config,
                    plugin,
                    resolved,
                    None if channel is None else cluster.route(channel),
                    store,
                    live,
                    probe=probe,
                    refused=refused,
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
    plugin: InstalledPlugin,
    resolved: Sequence[ResolvedAccount],
    channel: Channel | None,
    store: Store,
    live: Mapping[tuple[str, str], Mapping[str, Any]] | None,
    *,
    probe: bool,
    refused: str | None = None,
) -> list[dict[str, Any]]:
    channel_name = plugin.id
    inspector = plugin.plugin.inspector if plugin.plugin is not None else None
    by_id: dict[str, ChannelAccount] = {}
    if channel is not None:
        by_id = {a.account_id: a for a in channel.accounts()}
    rows: list[dict[str, Any]] = []
    probes: list[asyncio.Task[dict[str, Any]]] = []
    for item in resolved:
        row = _config_facts(config, inspector, item, channel, by_id.get(item.account_id))
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
            elif refused is not None:
                probes.append(asyncio.create_task(_failed_probe(refused)))
            else:
                probes.append(asyncio.create_task(_probe(channel, account)))
        rows.append(row)
    for row, task in zip(rows, probes, strict=False):
        row["probe"] = await task
    return rows


def _config_facts(
    config: ZalogateConfig,
    inspector: ConfigInspector | None,
    item: ResolvedAccount,
    channel: Channel | None,
    account: ChannelAccount | None,
) -> dict[str, Any]:
    """The config facts of one account: the channel's ``account_snapshot`` when it has one,
    else what the config alone tells."""
    settings = item.settings
    env = dict(os.environ)
    snapshot: dict[str, Any] = {}
    snapshot_error: str | None = None
    if channel is not None and account is not None:
        try:
            snapshot = dict(channel.account_snapshot(account))
        except Exception as exc:
            snapshot_error = f"account_snapshot failed: {error_line(exc)}"
    inspected = dict(inspector.account_facts(config, item, env)) if inspector else {}
    facts: dict[str, Any] = {
        "accountId": item.account_id,
        "name": item.name,
        "enabled": item.enabled,
        "default": item.is_default,
        "configured": None,
        "mode": None,
        "tokenSource": None,
        "dmPolicy": setting_text(settings.get("dmPolicy")) or "pairing",
        "groupPolicy": _group_policy(config, settings),
    }
    facts.update(inspected)
    group_policy = facts["groupPolicy"]
    channel_warnings = [str(w) for w in snapshot.pop("warnings", None) or ()]
    facts.update({k: v for k, v in snapshot.items() if v is not None or k not in facts})
    warnings = _policy_warnings(item, group_policy) if not snapshot else []
    if inspector is not None and item.enabled:
        warnings += inspector.account_warnings(
            config,
            item,
            env,
            origin=facts["tokenSource"],
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


def _policy_warnings(account: ResolvedAccount, group_policy: str) -> list[str]:
    """The open DM and group policy warnings of an enabled account (from the config)."""
    if not account.enabled:
        return []
    warnings: list[str] = []
    if setting_text(account.settings.get("dmPolicy")) == "open":
        warnings.append(
            f'{setting_path(account, "dmPolicy")} is "open": any user can message the bot'
            ' without pairing (set it to "pairing" or "allowlist")'
        )
    if group_policy == "open":
        warnings.append(
            f'{setting_path(account, "groupPolicy")} is "open": any member of any group can'
            ' trigger the agent (set groupPolicy to "allowlist" with groupAllowFrom)'
        )
    return warnings


def _group_policy(config: ZalogateConfig, settings: Mapping[str, Any]) -> str:
    """The written group policy, else ``channels.defaults.groupPolicy``, else ``open``."""
    return setting_text(settings.get("groupPolicy")) or (
        config.channels.defaults.group_policy or "open"
    )


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


async def _failed_probe(reason: str) -> dict[str, Any]:
    return {"ok": False, "detail": reason, "identity": {}, "elapsedMs": None}


async def _no_probe(reason: str) -> dict[str, Any]:
    return {"ok": False, "detail": f"not probed: {reason}", "identity": {}, "elapsedMs": None}


async def gateway_accounts(url: str) -> dict[tuple[str, str], Mapping[str, Any]] | None:
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
        "degradedSince": record.get("degradedSince"),
        "deadLetters": record.get("deadLetters") or 0,
        "restarts": record.get("restarts"),
        "reconnects": record.get("reconnects") or 0,
        "reason": record.get("reason"),
    }


async def _stored_runtime(store: Store, channel: str, account: str) -> dict[str, Any]:
    """Last activity recorded in the state store by earlier gateway runs."""
    activity = await account_activity(store, channel, account)
    return {
        "source": "state store",
        "state": "not running",
        "lastInboundAt": activity.last_inbound_at,
        "lastOutboundAt": activity.last_outbound_at,
        "lastError": activity.last_error,
    }


def _when(ms: Any) -> str:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_status(report: Mapping[str, Any]) -> None:
    """``channels status`` without ``--json``."""
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
    if runtime.get("degradedSince"):
        out_console.print(f"    failing since {_when(runtime['degradedSince'])}", markup=False)
    if runtime.get("lastError"):
        out_console.print(f"    last error: {runtime['lastError']}", markup=False)
    if runtime.get("reconnects"):
        out_console.print(f"    reconnects: {runtime['reconnects']}", markup=False)
    if runtime.get("deadLetters"):
        out_console.print(
            f"    dead letters: {runtime['deadLetters']} (zalogate inbox list --state dead)",
            markup=False,
        )
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


def failed_probes(report: Mapping[str, Any]) -> int:
    """How many accounts were probed and failed (``--probe`` exits 1 when any did)."""
    failed = 0
    for channel in report.get("channels") or ():
        for row in channel.get("accounts") or ():
            probe = row.get("probe")
            detail = str(probe.get("detail") or "") if probe else ""
            if probe and not probe.get("ok") and not detail.startswith("not probed"):
                failed += 1
    return failed
