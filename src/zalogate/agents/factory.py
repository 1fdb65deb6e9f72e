"""Agents from the config: one backend per section, and every agent behind one router."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zalogate.agents.base import Agent
from zalogate.agents.command import CommandAgent
from zalogate.agents.echo import EchoAgent
from zalogate.agents.routing import AgentRouter, Binding
from zalogate.agents.services import AgentServices

if TYPE_CHECKING:
    from zalogate.handlers import Router
    from zalogate.store import Store

__all__ = [
    "MAIN_AGENT_ID",
    "agent_from_section",
    "agent_sections",
    "build_agents",
    "http_secrets",
]

MAIN_AGENT_ID = "main"


def _get(section: Any, name: str, default: Any = None) -> Any:
    if section is None:
        return default
    value = section.get(name) if isinstance(section, Mapping) else getattr(section, name, None)
    return default if value is None else value


def agent_from_section(
    section: Any,
    *,
    agent_id: str = MAIN_AGENT_ID,
    store: Store | None = None,
    services: AgentServices | None = None,
) -> Agent:
    """The backend an agent section (``agent`` or an ``agents.list`` entry) describes.

    Raises:
        ValueError: For an unknown type or a backend missing a required setting.
    """
    from zalogate.agents import command_options_from_config, openai_options_from_config

    services = services or AgentServices(store=store)
    kind = str(_get(section, "type", "echo")).lower()
    if kind == "echo":
        return EchoAgent()
    if kind == "openai":
        from zalogate.agents.openai import OpenAIAgent

        options = openai_options_from_config(_get(section, "openai"))
        return OpenAIAgent(options, store=store, transcripts=services.transcripts)
    if kind == "command":
        return CommandAgent(command_options_from_config(_get(section, "command")))
    if kind == "http":
        from zalogate.agents.http import HttpAgent

        return HttpAgent(_http_options(agent_id, _get(section, "http")), services)
    if kind == "python":
        from zalogate.handlers import HandlerAgent, load_router

        app = _get(_get(section, "python"), "app")
        if not app:
            raise ValueError(f"agent {agent_id!r}: python.app is required (module:router)")
        return HandlerAgent(load_router(str(app)), services=services)
    raise ValueError(
        f"unknown agent type {kind!r} (expected echo, openai, command, http or python)"
    )


def _http_options(agent_id: str, section: Any) -> Any:
    from zalogate.agents import _secret
    from zalogate.agents.http import HttpAgentOptions

    return HttpAgentOptions(
        agent_id=agent_id,
        url=str(_get(section, "url", "")),
        secret=_secret(_get(section, "secret")) or "",
        timeout_seconds=float(_get(section, "timeout_seconds", 30.0)),
        retries=int(_get(section, "retries", 2)),
        headers={str(k): str(v) for k, v in dict(_get(section, "headers", {})).items()},
        history_window=int(_get(section, "history_window", 10)),
        reply_base_url=_get(section, "reply_base_url"),
        defer_ttl_seconds=float(_get(section, "defer_ttl_seconds", 86_400.0)),
    )


def agent_sections(config: Any) -> tuple[list[tuple[str, Any]], str]:
    """``[(agent id, section)]`` and the default id (see ``docs/agents.md``)."""
    agents = _get(config, "agents")
    entries = list(_get(agents, "entries", []) or [])
    written = set(getattr(config, "model_fields_set", ()))
    sections: list[tuple[str, Any]] = []
    if "agent" in written or not entries:
        sections.append((MAIN_AGENT_ID, _get(config, "agent")))
    default_id = sections[0][0] if sections else None
    flagged = None
    for entry in entries:
        agent_id = str(entry.id).lower()
        sections.append((agent_id, entry))
        if entry.default and flagged is None:
            flagged = agent_id
    return sections, flagged or default_id or sections[0][0]


def http_secrets(config: Any) -> dict[str, str]:
    """Agent id -> secret of every ``http`` agent (for the deferred reply endpoint)."""
    from zalogate.agents import _secret

    found: dict[str, str] = {}
    for agent_id, section in agent_sections(config)[0]:
        if str(_get(section, "type", "")).lower() == "http":
            secret = _secret(_get(_get(section, "http"), "secret"))
            if secret:
                found[agent_id] = secret
    return found


def build_agents(
    config: Any,
    store: Store | None = None,
    *,
    services: AgentServices | None = None,
    front: Router | None = None,
) -> AgentRouter:
    """Every agent of the config behind an :class:`AgentRouter` (with the bindings).

    ``front``: Python handlers that see each message first (``gateway run --app``); a
    message no handler takes falls through to the routed agent.
    """
    from zalogate.config import ZalogateConfig, default_account_id

    services = services or AgentServices(store=store)
    sections, default_id = agent_sections(config)
    agents: dict[str, Agent] = {}
    tools: dict[str, Any] = {}
    for agent_id, section in sections:
        agent = agent_from_section(section, agent_id=agent_id, store=store, services=services)
        if front is not None:
            from zalogate.handlers import HandlerAgent

            agent = HandlerAgent(front, services=services, fallback=agent)
        agents[agent_id] = agent
        tools[agent_id] = _get(section, "tools")
    bindings = [Binding.from_config(b) for b in _get(config, "bindings", [])]

    def default_account(channel: str) -> str:
        if isinstance(config, ZalogateConfig):
            return default_account_id(config, channel)
        return "default"

    def offers(agent_id: str, tool: str) -> bool:
        policy = tools.get(agent_id)
        allow = _get(policy, "allow")
        if allow is not None and tool not in allow:
            return False
        return tool not in (_get(policy, "deny", []) or [])

    return AgentRouter(agents, default_id, bindings, default_account=default_account, tools=offers)
