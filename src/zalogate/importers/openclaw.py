"""``zalogate import openclaw``: an OpenClaw state dir as a zalogate config and state.

:func:`plan_import` decides, from what :mod:`.openclaw_source` read, what is taken (the Zalo
channel sections, the approved senders, the saved Zalo sessions) and what is left, each with its
reason; :func:`apply_import` writes the plan. OpenClaw's files are only read.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.config import ConfigError, parse_config, state_dir
from zalogate.config.loading import read_json5_object
from zalogate.core.pairing import PAIRING_TTL_SECONDS, AllowStore, SqlitePairingStore
from zalogate.importers.openclaw_source import OpenClawSource, SavedSession
from zalogate.personal.session import Credentials
from zalogate.runtime.wiring import cluster_shared_state
from zalogate.store import Store, write_private_file

__all__ = ["ImportPlan", "Item", "MigrationError", "apply_import", "plan_import"]

_MAX_DROPS = 200
_SESSION_CHANNEL = "zalouser"


class MigrationError(Exception):
    """The import cannot go ahead (one line naming the problem and the fix)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One thing taken or left: its kind (config, allow, session, pending, setting)."""

    kind: str
    what: str
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        found = {"kind": self.kind, "what": self.what}
        return {**found, "reason": self.reason} if self.reason else found


@dataclass(slots=True)
class ImportPlan:
    """What :func:`apply_import` writes, and the report of it."""

    source: OpenClawSource
    config_path: Path
    state_dir: Path
    config: dict[str, Any]
    took: list[Item] = field(default_factory=list)
    left: list[Item] = field(default_factory=list)
    allow: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    sessions: list[tuple[SavedSession, Credentials]] = field(default_factory=list)
    cluster: bool = False
    """The current config names a cluster (``gateway.cluster``): kept in the new config, and
    the approved senders go into the cluster's pairing store."""

    def conflicts(self) -> list[Path]:
        """Files the import would replace."""
        found = [self.config_path] if self.config_path.exists() else []
        store = CredentialStore(self.state_dir)
        found += [store.path(s.profile) for s, _ in self.sessions if store.exists(s.profile)]
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "from": str(self.source.root),
            "openclawVersion": self.source.version,
            "config": str(self.config_path),
            "stateDir": str(self.state_dir),
            "cluster": self.cluster,
            "took": [item.to_json() for item in self.took],
            "left": [item.to_json() for item in self.left],
        }


class _AnyEnv(Mapping[str, str]):
    """Every ``${VAR}`` is set while checking: an unset variable is not a reason to drop a key."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, key: str) -> str:
        return self._env.get(key) or "set-at-run-time"

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)

    def __contains__(self, key: object) -> bool:
        return True


def plan_import(
    source: OpenClawSource,
    *,
    config_path: Path,
    env: Mapping[str, str],
    channels: Sequence[str],
    now: float | None = None,
) -> ImportPlan:
    """Decide what to take from ``source`` for the installed ``channels``.

    Raises:
        MigrationError: The OpenClaw config has no channel zalogate can run.
    """
    section, took, left = _channel_sections(source.config, channels)
    if not section:
        raise MigrationError(
            f"{source.config_file} configures no channel zalogate runs"
            f" ({', '.join(channels)}); nothing to import"
        )
    _drop_unknown_keys(section, left, env)
    config: dict[str, Any] = {"channels": section}
    cluster = _current_cluster(config_path)
    if cluster is not None:
        config["gateway"] = {"cluster": cluster}
        took.append(Item("config", "gateway.cluster (kept from the current config)"))
    try:
        parsed = parse_config(config, env=_AnyEnv(env), base_dir=config_path.parent)
    except ConfigError as exc:
        raise MigrationError(
            f"{config_path}: gateway.cluster does not validate ({'; '.join(exc.problems)});"
            " fix it first"
        ) from None
    plan = ImportPlan(
        source=source,
        config_path=config_path,
        state_dir=state_dir(parsed, env),
        config=config,
        took=took,
        left=left,
        cluster=cluster is not None,
    )
    _plan_allow(plan, set(section))
    _plan_pending(plan, set(section), time.time() if now is None else now)
    _plan_sessions(plan, set(section))
    return plan


def _current_cluster(config_path: Path) -> dict[str, Any] | None:
    """The ``gateway.cluster`` section of the config the import replaces, as written."""
    try:
        data = read_json5_object(config_path)
    except (FileNotFoundError, ValueError):
        return None  # no config yet, or one the import replaces anyway (--force)
    gateway = data.get("gateway")
    cluster = gateway.get("cluster") if isinstance(gateway, dict) else None
    return copy.deepcopy(cluster) if isinstance(cluster, dict) else None


def _channel_sections(
    data: Mapping[str, Any], channels: Sequence[str]
) -> tuple[dict[str, Any], list[Item], list[Item]]:
    took: list[Item] = []
    left: list[Item] = []
    section: dict[str, Any] = {}
    raw = data.get("channels")
    for name, value in (raw if isinstance(raw, dict) else {}).items():
        if (name in channels or name == "defaults") and isinstance(value, dict):
            section[name] = copy.deepcopy(value)
            accounts = value.get("accounts")
            listed = ", ".join(sorted(accounts)) if isinstance(accounts, dict) else "default"
            took.append(Item("config", f"channels.{name} (accounts: {listed})"))
        else:
            left.append(Item("config", f"channels.{name}", "not a channel zalogate runs"))
    others = sorted(key for key in data if key != "channels")
    if others:
        left.append(
            Item(
                "setting",
                ", ".join(others),
                "OpenClaw settings with no zalogate counterpart (the agent: see docs/llm.md)",
            )
        )
    return section, took, left


def _drop_unknown_keys(section: dict[str, Any], left: list[Item], env: Mapping[str, str]) -> None:
    """Remove the keys zalogate's schema refuses, one problem at a time, and say why."""
    for _ in range(_MAX_DROPS):
        try:
            parse_config({"channels": section}, env=_AnyEnv(env))
        except ConfigError as exc:
            dropped = False
            for problem in exc.problems:
                path, _, message = problem.partition(": ")
                if _delete({"channels": section}, path.split(".")):
                    left.append(Item("config", path, f"zalogate: {message}"))
                    dropped = True
            if not dropped:
                raise MigrationError(
                    "the imported channels do not validate: " + "; ".join(exc.problems)
                ) from None
        else:
            return
    raise MigrationError("the imported channels do not validate (too many problems)")


def _delete(data: dict[str, Any], keys: list[str]) -> bool:
    node: Any = data
    for key in keys[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    if isinstance(node, dict) and keys and keys[-1] in node:
        del node[keys[-1]]
        return True
    return False


def _plan_allow(plan: ImportPlan, channels: set[str]) -> None:
    for (channel, account), entries in sorted(plan.source.allow.items()):
        where = f"{channel}/{account}"
        if channel not in channels:
            plan.left.append(Item("allow", where, "its channel is not imported"))
            continue
        senders = [entry for entry in entries if entry != "*"]
        if senders:
            plan.allow[(channel, account)] = senders
            into = " (into the cluster's pairing store)" if plan.cluster else ""
            plan.took.append(Item("allow", f"{where}: {len(senders)} approved sender(s){into}"))


def _plan_pending(plan: ImportPlan, channels: set[str], now: float) -> None:
    for request in plan.source.pending:
        what = f"{request.channel}/{request.account_id} sender {request.sender_id}"
        if request.channel not in channels:
            reason = "its channel is not imported"
        elif request.created_at_ms / 1000 + PAIRING_TTL_SECONDS <= now:
            reason = "expired (a pairing code lives 1 h)"
        else:
            reason = "a pending code is not carried over: the sender gets a new one on writing"
        plan.left.append(Item("pending", what, reason))


def _plan_sessions(plan: ImportPlan, channels: set[str]) -> None:
    for profile, session in sorted(plan.source.sessions.items()):
        what = f"{_SESSION_CHANNEL} profile {profile}"
        if _SESSION_CHANNEL not in channels:
            plan.left.append(Item("session", what, f"channels.{_SESSION_CHANNEL} is not imported"))
        elif session.revoked:
            plan.left.append(Item("session", what, "logged out in OpenClaw"))
        else:
            try:
                credentials = Credentials.from_json(session.data)
            except ValueError as exc:
                plan.left.append(Item("session", what, f"unusable: {exc}"))
                continue
            plan.sessions.append((session, credentials))
            plan.took.append(Item("session", what))


def apply_import(
    plan: ImportPlan, *, force: bool, env: Mapping[str, str] | None = None
) -> Path | None:
    """Write the config, the sessions and the allow store; return the config backup, if any.

    In a cluster the approved senders go first, into the cluster's pairing store, so that
    NATS out of reach leaves everything as it was.

    Raises:
        MigrationError: A file would be replaced and ``force`` is false; the cluster cannot
            be reached.
    """
    conflicts = plan.conflicts()
    if conflicts and not force:
        listed = ", ".join(str(path) for path in conflicts)
        raise MigrationError(f"not overwriting {listed} (use --force to replace)")
    if plan.cluster and plan.allow:
        asyncio.run(_write_allow(plan, env or {}))
    backup: Path | None = None
    if plan.config_path.exists():
        backup = plan.config_path.with_name(plan.config_path.name + ".bak")
        plan.config_path.replace(backup)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"// Imported from OpenClaw ({plan.source.config_file}) on {stamp}\n"
        "// by `zalogate import openclaw`. Check it: `zalogate config validate`.\n"
        + json.dumps(plan.config, ensure_ascii=False, indent=2)
        + "\n"
    )
    write_private_file(plan.config_path, text.encode("utf-8"))
    credentials = CredentialStore(plan.state_dir)
    for session, creds in plan.sessions:
        created = session.data.get("createdAt")
        credentials.save(
            session.profile,
            creds,
            created_at=created if isinstance(created, str) else None,
            used=False,
        )
    if plan.allow and not plan.cluster:
        asyncio.run(_write_allow(plan, env or {}))
    return backup


async def _write_allow(plan: ImportPlan, env: Mapping[str, str]) -> None:
    """Into the pairing store the new config selects (the cluster's, or the state dir's)."""
    if plan.cluster:
        try:
            # The cluster section alone: the channels' ${VARS} may be set only where they run.
            only = {"gateway": plan.config["gateway"]}
            config = parse_config(only, env=env, base_dir=plan.config_path.parent)
            async with cluster_shared_state(config, name="zalogate-import") as shared:
                if shared is not None:
                    await _allow_into(shared.pairing, plan.allow)
                    return
        except ConfigError as exc:
            raise MigrationError(f"gateway.cluster: {'; '.join(exc.problems)}") from None
        except ConnectionError as exc:  # NATS away (ClusterUnavailableError)
            raise MigrationError(f"{exc} (the config and sessions were not written)") from None
    async with await Store.open(plan.state_dir) as store:
        await _allow_into(SqlitePairingStore(store), plan.allow)


async def _allow_into(pairing: AllowStore, allow: Mapping[tuple[str, str], list[str]]) -> None:
    for (channel, account), senders in allow.items():
        for sender in senders:
            await pairing.add_allowed(channel, account, sender)
