"""Checks that span several keys (the schema checks each key on its own).

They run on the raw (substituted) data, even when the schema found problems, so that one
run reports everything; values of the wrong type are skipped here (the schema reports them).
Rules about merged account settings apply to enabled accounts only: a disabled account may
be parked half-configured.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from zalogate.config.accounts import AccountLayout, layout_accounts
from zalogate.config.agent_rules import check_agents
from zalogate.config.problems import KeyPath, Problem, problem

__all__ = ["BUILTIN_CHANNELS", "check_rules"]

BUILTIN_CHANNELS = ("zalo", "zalouser")
_RESERVED_CHANNEL_KEYS = ("defaults", *BUILTIN_CHANNELS)


def check_rules(
    data: Mapping[str, Any], env: Mapping[str, str], plugin_ids: Iterable[str]
) -> list[Problem]:
    """Every cross-key problem in ``data`` (a plain config mapping)."""
    problems: list[Problem] = []
    channels = data.get("channels")
    if isinstance(channels, Mapping):
        problems += _check_channel_ids(channels, set(plugin_ids))
        for channel in BUILTIN_CHANNELS:
            section = channels.get(channel)
            if isinstance(section, Mapping):
                problems += _check_channel(channel, section, env)
    problems += check_agents(data, set(plugin_ids))
    return problems


def _check_channel_ids(channels: Mapping[str, Any], plugin_ids: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in channels.items():
        if key in _RESERVED_CHANNEL_KEYS:
            continue
        path: KeyPath = ("channels", str(key))
        if key not in plugin_ids:
            known = sorted({*_RESERVED_CHANNEL_KEYS, *plugin_ids})
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message = f"unknown channel ({hint}known: {', '.join(known)})"
            problems.append(problem(path, message))
        elif not isinstance(value, Mapping):
            problems.append(problem(path, "must be an object"))
    return problems


def _location(channel: str, layout: AccountLayout, account_id: str, *keys: str) -> KeyPath:
    """Where ``keys`` were written for ``account_id``: its own entry, else the top level."""
    raw_key = layout.keys.get(account_id)
    own = layout.own.get(account_id, {})
    if raw_key is not None and any(k in own for k in keys):
        return ("channels", channel, "accounts", raw_key)
    return ("channels", channel)


def _check_channel(
    channel: str, section: Mapping[str, Any], env: Mapping[str, str]
) -> list[Problem]:
    problems: list[Problem] = []
    layout = layout_accounts(channel, section, env)
    for account_id, first, second in layout.duplicates:
        problems.append(
            problem(
                ("channels", channel, "accounts", second),
                f"same account id {account_id!r} as {first!r} (ids are case-insensitive)",
            )
        )
    if layout.default_account_missing:
        problems.append(
            problem(
                ("channels", channel, "defaultAccount"),
                f"no account {section.get('defaultAccount')!r} in accounts",
            )
        )
    channel_enabled = layout.base.get("enabled") is not False
    webhook_paths: dict[tuple[str, str], str] = {}
    for account_id in layout.ordered_ids():
        own = layout.own[account_id]
        if not channel_enabled or own.get("enabled") is False:
            continue
        settings = {**layout.base, **own}
        problems += _check_open_dm(channel, layout, account_id, settings)
        if channel == "zalo":
            problems += _check_webhook(layout, account_id, settings, webhook_paths)
    return problems


def _check_open_dm(
    channel: str, layout: AccountLayout, account_id: str, settings: Mapping[str, Any]
) -> list[Problem]:
    if settings.get("dmPolicy") != "open":
        return []
    allow = settings.get("allowFrom")
    entries = [str(e).strip() for e in allow] if isinstance(allow, list) else []
    if "*" in entries:
        return []
    where = _location(channel, layout, account_id, "dmPolicy", "allowFrom")
    return [problem((*where, "allowFrom"), 'dmPolicy "open" requires "*" in allowFrom')]


def _check_webhook(
    layout: AccountLayout,
    account_id: str,
    settings: Mapping[str, Any],
    seen_paths: dict[tuple[str, str], str],
) -> list[Problem]:
    """Webhook URL needs a secret; accounts may share a path only with different secrets.

    Requests on one path are routed by their secret header, so two accounts with the same
    path and the same secret could not be told apart (the endpoint would answer 401).
    """
    url = settings.get("webhookUrl")
    if not isinstance(url, str) or not url.strip():
        return []
    problems: list[Problem] = []
    secret = settings.get("webhookSecret")
    if secret is None or (isinstance(secret, str) and not secret):
        where = _location("zalo", layout, account_id, "webhookUrl", "webhookSecret")
        problems.append(problem((*where, "webhookSecret"), "required when webhookUrl is set"))
    path = settings.get("webhookPath")
    path_key = "webhookPath"
    if not isinstance(path, str) or not path:
        path, path_key = urlsplit(url.strip()).path or "/", "webhookUrl"
    reserved = _reserved_route(path)
    if reserved is not None:
        where = _location("zalo", layout, account_id, path_key)
        problems.append(
            problem(
                (*where, path_key),
                f"the webhook path {path.strip()!r} is reserved for the gateway's {reserved}"
                " (choose another path)",
            )
        )
    if not isinstance(secret, str) or not secret:
        return problems
    other = seen_paths.get((path, secret))
    if other is not None:
        where = _location("zalo", layout, account_id, "webhookSecret", "webhookPath")
        problems.append(
            problem(
                (*where, "webhookSecret"),
                f"account {other!r} uses the same webhook path {path!r} and the same secret:"
                " requests could not be told apart (give each account its own secret or path)",
            )
        )
    else:
        seen_paths[(path, secret)] = account_id
    return problems


_RESERVED_ROUTES = {"/healthz": "health check", "/control": "control endpoint"}
"""Paths the gateway's HTTP server keeps for itself, with everything below them (the same
as ``zalogate.runtime.http``; the config sits below the runtime and cannot import it)."""


def _reserved_route(path: str) -> str | None:
    """What a webhook path collides with (``health check``, ``control endpoint``), or None."""
    clean = path.strip()
    if not clean.startswith("/"):
        clean = "/" + clean
    clean = clean.rstrip("/") or "/"
    for prefix, what in _RESERVED_ROUTES.items():
        if clean == prefix or clean.startswith(prefix + "/"):
            return what
    return None
