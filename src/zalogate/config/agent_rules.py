"""Cross-key checks of ``agent``, ``agents.list`` and ``bindings`` (run on the raw data)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zalogate.config.problems import KeyPath, Problem, problem

__all__ = ["MAIN_AGENT_ID", "agent_ids", "check_agents"]

MAIN_AGENT_ID = "main"
"""The id of the agent the single ``agent`` block describes."""

_BUILTIN_CHANNELS = ("zalo", "zalouser")

_REQUIRED = {
    "command": ("command", "argv"),
    "http": ("http", "url"),
    "python": ("python", "app"),
}


def agent_ids(data: Mapping[str, Any]) -> list[str]:
    """The agent ids ``data`` defines, lower-cased, in order (``main`` first when it is there)."""
    entries = _entries(data)
    ids = [str(e["id"]).lower() for _, e in entries if isinstance(e.get("id"), str)]
    if isinstance(data.get("agent"), Mapping) or not entries:
        ids.insert(0, MAIN_AGENT_ID)
    return list(dict.fromkeys(ids))


def check_agents(data: Mapping[str, Any], plugin_ids: Iterable[str]) -> list[Problem]:
    """Every problem of the agent sections and the bindings."""
    problems: list[Problem] = []
    agent = data.get("agent")
    if isinstance(agent, Mapping):
        problems += _check_backend(("agent",), agent, "agent.type")
    seen: dict[str, int] = {}
    if isinstance(agent, Mapping):
        seen[MAIN_AGENT_ID] = -1
    defaults: list[int] = []
    for index, entry in _entries(data):
        path: KeyPath = ("agents", "list", index)
        problems += _check_backend(path, entry, f"agents.list[{index}].type")
        if entry.get("default") is True:
            defaults.append(index)
        raw_id = entry.get("id")
        if not isinstance(raw_id, str):
            continue
        first = seen.setdefault(raw_id.lower(), index)
        if first != index:
            where = "the agent block's id" if first < 0 else f"agents.list[{first}]"
            problems.append(
                problem((*path, "id"), f"same id {raw_id!r} as {where} (ids are unique)")
            )
    for index in defaults[1:]:
        problems.append(
            problem(
                ("agents", "list", index, "default"),
                f"only one agent may be the default (agents.list[{defaults[0]}] already is)",
            )
        )
    problems += _check_bindings(data.get("bindings"), agent_ids(data), set(plugin_ids))
    return problems


def _entries(data: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    agents = data.get("agents")
    listed = agents.get("list") if isinstance(agents, Mapping) else None
    if not isinstance(listed, list):
        return []
    return [(i, e) for i, e in enumerate(listed) if isinstance(e, Mapping)]


def _check_backend(path: KeyPath, section: Mapping[str, Any], type_key: str) -> list[Problem]:
    kind = section.get("type")
    problems: list[Problem] = []
    required = _REQUIRED.get(kind) if isinstance(kind, str) else None
    if required is not None:
        block, key = required
        sub = section.get(block)
        value = sub.get(key) if isinstance(sub, Mapping) else None
        if value is None or value == "" or value == []:
            message = f'required when {type_key} is "{kind}"'
            problems.append(problem((*path, block, key), message))
    if kind == "http":
        sub = section.get("http")
        secret = sub.get("secret") if isinstance(sub, Mapping) else None
        if not secret:
            message = f'required when {type_key} is "http" (it signs every request)'
            problems.append(problem((*path, "http", "secret"), message))
    return problems


def _check_bindings(bindings: Any, known: list[str], plugin_ids: set[str]) -> list[Problem]:
    if not isinstance(bindings, list):
        return []
    problems: list[Problem] = []
    channels = sorted({*_BUILTIN_CHANNELS, *plugin_ids})
    for index, binding in enumerate(bindings):
        if not isinstance(binding, Mapping):
            continue
        path: KeyPath = ("bindings", index)
        agent_id = binding.get("agentId", binding.get("agent_id"))
        if isinstance(agent_id, str) and agent_id.lower() not in known:
            message = f"no agent {agent_id!r} (known: {', '.join(known)})"
            problems.append(problem((*path, "agentId"), message))
        match = binding.get("match")
        channel = match.get("channel") if isinstance(match, Mapping) else None
        if isinstance(channel, str) and channel and channel.lower() not in channels:
            message = f"unknown channel {channel!r} (known: {', '.join(channels)})"
            problems.append(problem((*path, "match", "channel"), message))
    return problems
