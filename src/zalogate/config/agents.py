"""``agents.list[]`` and ``bindings[]``: several agents, and which one answers what (OpenClaw's
shape, so OpenClaw configs carry over), plus the backend sections every agent may carry."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from zalogate.config.channel_fields import check_http_url
from zalogate.config.config_model import ConfigModel

__all__ = [
    "AgentEntryConfig",
    "AgentToolsConfig",
    "AgentType",
    "AgentsConfig",
    "BindingConfig",
    "BindingMatchConfig",
    "BindingPeerConfig",
    "CommandAgentConfig",
    "HttpAgentConfig",
    "OpenAIAgentConfig",
    "PythonAgentConfig",
]

_AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

AgentType = Literal["echo", "openai", "command", "http", "python"]


class OpenAIAgentConfig(ConfigModel):
    """``agent.openai``: any OpenAI-compatible Chat Completions endpoint."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    system_prompt: str | None = None
    history_window: Annotated[int, Field(ge=0)] = 20
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_tool_rounds: Annotated[int, Field(ge=0)] = 4
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    on_error: Literal["apology", "raise"] = "apology"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        check_http_url(value)
        return value


class CommandAgentConfig(ConfigModel):
    """``agent.command``: a program that reads the turn as JSON on stdin."""

    argv: list[str] = Field(default_factory=list)
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None


class HttpAgentConfig(ConfigModel):
    """``agent.http``: each turn is POSTed as signed JSON to ``url`` (n8n, Dify, a service)."""

    url: str | None = None
    secret: SecretStr | None = None
    """Signs requests and authenticates deferred replies (HMAC-SHA256)."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    headers: dict[str, str] = Field(default_factory=dict)
    history_window: Annotated[int, Field(ge=0)] = 10
    reply_base_url: str | None = None
    """How the service reaches the gateway for deferred replies (default: the gateway's URL)."""
    defer_ttl_seconds: Annotated[float, Field(gt=0)] = 86_400.0

    @field_validator("url", "reply_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        check_http_url(value)
        return value


class PythonAgentConfig(ConfigModel):
    """``agent.python``: in-process handlers, ``module:router`` (see ``zalogate.handlers``)."""

    app: str | None = None


class AgentToolsConfig(ConfigModel):
    """``agents.list[].tools``: which agent tools this agent is offered."""

    allow: list[str] | None = None
    deny: list[str] = Field(default_factory=list)


class AgentEntryConfig(ConfigModel):
    """One entry of ``agents.list``."""

    id: str
    default: bool = False
    name: str | None = None
    type: AgentType = "echo"
    openai: OpenAIAgentConfig = Field(default_factory=OpenAIAgentConfig)
    command: CommandAgentConfig = Field(default_factory=CommandAgentConfig)
    http: HttpAgentConfig = Field(default_factory=HttpAgentConfig)
    python: PythonAgentConfig = Field(default_factory=PythonAgentConfig)
    tools: AgentToolsConfig = Field(default_factory=AgentToolsConfig)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _AGENT_ID.fullmatch(value):
            raise ValueError("1-64 letters, digits, '-' or '_' (it is part of session keys)")
        return value


class AgentsConfig(ConfigModel):
    """``agents``: the agents the gateway runs (``list`` is OpenClaw's key)."""

    entries: list[AgentEntryConfig] = Field(default_factory=list, alias="list")


class BindingPeerConfig(ConfigModel):
    """``bindings[].match.peer``: one conversation."""

    kind: Literal["direct", "group"]
    id: Annotated[str, Field(min_length=1)]


class BindingMatchConfig(ConfigModel):
    """``bindings[].match``: every field written must match."""

    channel: Annotated[str, Field(min_length=1)]
    account_id: str | None = None
    """``"*"``: every account of the channel; unset: the channel's default account only."""
    peer: BindingPeerConfig | None = None


class BindingConfig(ConfigModel):
    """One entry of ``bindings``: which agent answers the messages ``match`` selects."""

    agent_id: Annotated[str, Field(min_length=1)]
    match: BindingMatchConfig
    comment: str | None = None
