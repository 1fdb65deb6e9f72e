"""Agent backends: ``echo``, ``openai`` (any OpenAI-compatible endpoint), ``command``,
``http`` and ``python`` (in-process handlers, :mod:`zalogate.handlers`).

``create_agent(config, store)`` builds the one named by ``config.agent.type``;
``zalogate.agents.factory.build_agents`` builds every agent of ``agents.list`` behind an
:class:`~zalogate.agents.routing.AgentRouter`. The ``openai``
backend's names are imported on first use: the SDK takes longer to import than the rest of
zalogate's agents together, and a gateway running the echo or command agent never needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zalogate.agents.base import Agent, AgentError, AgentTool, FunctionTool, Turn
from zalogate.agents.command import CommandAgent, CommandAgentOptions
from zalogate.agents.echo import EchoAgent

if TYPE_CHECKING:
    from zalogate.agents.openai import AgentAuthError, OpenAIAgent, OpenAIAgentOptions
    from zalogate.store import Store

__all__ = [
    "Agent",
    "AgentAuthError",
    "AgentError",
    "AgentTool",
    "CommandAgent",
    "CommandAgentOptions",
    "EchoAgent",
    "FunctionTool",
    "OpenAIAgent",
    "OpenAIAgentOptions",
    "Turn",
    "command_options_from_config",
    "create_agent",
    "openai_options_from_config",
]


_OPENAI_NAMES = frozenset({"AgentAuthError", "OpenAIAgent", "OpenAIAgentOptions"})


def __getattr__(name: str) -> Any:
    if name in _OPENAI_NAMES:
        value = getattr(importlib.import_module("zalogate.agents.openai"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _get(section: Any, name: str, default: Any = None) -> Any:
    if section is None:
        return default
    if isinstance(section, Mapping):
        value = section.get(name, default)
    else:
        value = getattr(section, name, default)
    return default if value is None else value


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value) or None


def openai_options_from_config(section: Any) -> OpenAIAgentOptions:
    """Build :class:`OpenAIAgentOptions` from the ``agent.openai`` config section."""
    from zalogate.agents.openai import OpenAIAgentOptions

    defaults = OpenAIAgentOptions()
    temperature = _get(section, "temperature")
    return OpenAIAgentOptions(
        model=str(_get(section, "model", defaults.model)),
        base_url=_get(section, "base_url"),
        api_key=_secret(_get(section, "api_key")),
        system_prompt=_get(section, "system_prompt"),
        history_window=int(_get(section, "history_window", defaults.history_window)),
        timeout_seconds=float(_get(section, "timeout_seconds", defaults.timeout_seconds)),
        max_tool_rounds=int(_get(section, "max_tool_rounds", defaults.max_tool_rounds)),
        temperature=None if temperature is None else float(temperature),
        on_error=_get(section, "on_error", defaults.on_error),
    )


def command_options_from_config(section: Any) -> CommandAgentOptions:
    """Build :class:`CommandAgentOptions` from the ``agent.command`` config section."""
    argv = _get(section, "argv", ())
    if isinstance(argv, str):
        argv = [argv]
    env = _get(section, "env", {})
    return CommandAgentOptions(
        argv=tuple(str(a) for a in argv),
        timeout_seconds=float(_get(section, "timeout_seconds", 60.0)),
        env={str(k): _secret(v) or "" for k, v in dict(env).items()},
        cwd=_get(section, "cwd"),
    )


def create_agent(config: Any, store: Store | None = None) -> Agent:
    """The agent of the single ``agent`` block (``echo`` when there is no agent section).

    Raises:
        ValueError: For an unknown agent type or a backend missing a required setting.
    """
    from zalogate.agents.factory import agent_from_section

    return agent_from_section(_get(config, "agent"), store=store)
