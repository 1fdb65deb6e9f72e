"""The root config model, :class:`ZalogateConfig`, and its non-channel sections."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from zalogate.config.agents import (
    AgentsConfig,
    AgentType,
    BindingConfig,
    CommandAgentConfig,
    HttpAgentConfig,
    OpenAIAgentConfig,
    PythonAgentConfig,
)
from zalogate.config.channel_fields import GroupPolicy, check_patterns
from zalogate.config.cluster import ClusterConfig
from zalogate.config.config_model import ConfigModel
from zalogate.config.zalo import ZaloConfig
from zalogate.config.zalouser import ZalouserConfig

__all__ = [
    "AgentConfig",
    "AgentsConfig",
    "BindingConfig",
    "ChannelDefaults",
    "ChannelsConfig",
    "CommandAgentConfig",
    "GatewayConfig",
    "GroupChatConfig",
    "HttpLimitsConfig",
    "MessagesConfig",
    "OpenAIAgentConfig",
    "PluginEntryConfig",
    "PluginsConfig",
    "SchedulesConfig",
    "SessionConfig",
    "ZalogateConfig",
]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ConsoleConfig(ConfigModel):
    """``gateway.console``: the operator console (``/console``) and ``/metrics``."""

    enabled: bool = True
    password: SecretStr | None = None
    """Needed before clients other than loopback may use the console or ``/metrics``."""
    transcript_days: Annotated[float, Field(gt=0, le=3650)] = 30
    """Days the conversations' transcripts are kept (older lines are pruned)."""


class HttpLimitsConfig(ConfigModel):
    """``gateway.http``: connection limits of the HTTP server (docs/reliability.md)."""

    max_connections: Annotated[int, Field(ge=1)] = 768
    """Open connections in all; over it, the oldest idle one is closed to make room. Keep it
    below the open-file limit (``ulimit -n``) minus what the gateway needs besides."""
    max_connections_per_client: Annotated[int, Field(ge=1)] = 256
    """Open connections per client address (a reverse proxy counts as one client)."""
    header_timeout_seconds: Annotated[float, Field(gt=0)] = 8.0
    """A connection must send a complete request head within this long of opening (or of
    its last answer)."""
    idle_timeout_seconds: Annotated[int, Field(ge=1)] = 5
    """A keep-alive connection with nothing to do after an answer is closed after this long."""

    @model_validator(mode="after")
    def _per_client_within_total(self) -> HttpLimitsConfig:
        if self.max_connections_per_client > self.max_connections:
            raise ValueError(
                f"maxConnectionsPerClient ({self.max_connections_per_client}) is over"
                f" maxConnections ({self.max_connections}): lower it or raise maxConnections"
            )
        return self


class GatewayConfig(ConfigModel):
    """``gateway``: where the HTTP server listens, where state lives, how much is logged."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 18789
    """0 picks a free port."""
    state_dir: str | None = None
    """Default ``$ZALOGATE_STATE_DIR`` or ``~/.zalogate``; relative to the config file."""
    log_level: LogLevel = "info"
    trusted_proxies: list[str] = Field(default_factory=list)
    """Reverse proxies (IPs or CIDRs) whose ``X-Forwarded-For`` / ``X-Real-IP`` name the client."""
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    http: HttpLimitsConfig = Field(default_factory=HttpLimitsConfig)
    cluster: ClusterConfig | None = None
    """Cluster mode over NATS JetStream (``docs/cluster.md``); absent: one process, SQLite."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR (e.g. 127.0.0.1 or 10.0.0.0/8)"
                ) from None
        return value


class AgentConfig(ConfigModel):
    """``agent``: the single agent (the default one when ``agents.list`` is also written)."""

    type: AgentType = "echo"
    openai: OpenAIAgentConfig = Field(default_factory=OpenAIAgentConfig)
    command: CommandAgentConfig = Field(default_factory=CommandAgentConfig)
    http: HttpAgentConfig = Field(default_factory=HttpAgentConfig)
    python: PythonAgentConfig = Field(default_factory=PythonAgentConfig)


class SchedulesConfig(ConfigModel):
    """``schedules``: how scheduled messages are sent (``zalogate message schedule``)."""

    missed: Literal["send", "skip"] = "send"
    """An occurrence that fell in a downtime: sent once on start, or skipped."""
    min_interval_seconds: Annotated[float, Field(ge=0)] = 1.0
    """Send limit: at least this long between two scheduled sends of one account."""
    agent_tool: bool = False
    """Offer agents the ``schedule`` tool (off by default: a model without tool support
    would start failing once any tool is offered)."""


class SessionConfig(ConfigModel):
    """``session``: how conversations map to agent sessions."""

    dm_scope: Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"] = "main"
    main_key: str = "main"
    identity_links: dict[str, list[str]] = Field(default_factory=dict)


class GroupChatConfig(ConfigModel):
    """``messages.groupChat``."""

    history_limit: Annotated[int | None, Field(ge=0)] = None
    """Default pending group history per group (50 when unset)."""
    mention_patterns: list[str] | None = None

    @field_validator("mention_patterns")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return check_patterns(value)


class DeliveryConfig(ConfigModel):
    """``messages.delivery``: how replies are retried (docs/reliability.md)."""

    resend_unknown: Literal["once", "never"] = "once"
    """A send whose outcome is unknown (a reset after the request was written, a read
    timeout) is sent once more (a possible duplicate) or never (a possible loss)."""
    retry_window_seconds: Annotated[int, Field(ge=60)] = 3600
    """How long a message whose reply keeps failing is retried before it is a dead letter."""
    max_in_flight: Annotated[int, Field(ge=0)] = 1
    """Sends of one account awaiting Zalo's answer at a time (0: no limit). A kill cuts off at
    most this many, each sent again on replay: raise it for throughput at the price of up to
    that many duplicates per kill. An account's ``maxInFlight`` overrides it."""
    fsync: bool = False
    """``fdatasync`` the outbox log after each line: the record of a confirmed send then
    survives a power loss, not only a killed process (costs a disk flush per reply chunk)."""


class MessagesConfig(ConfigModel):
    """``messages``: settings that apply to every channel."""

    response_prefix: str | None = None
    group_chat: GroupChatConfig = Field(default_factory=GroupChatConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)


class ChannelDefaults(ConfigModel):
    """``channels.defaults``."""

    group_policy: GroupPolicy | None = None


class ChannelsConfig(ConfigModel):
    """``channels``: the built-in channels, plus raw sections for third-party plugins.

    ``zalo`` / ``zalouser`` are ``None`` when not written. Any other key must be the id of an
    installed channel plugin; its section stays a plain ``dict`` for that plugin to validate.
    """

    model_config = ConfigDict(extra="allow")

    defaults: ChannelDefaults = Field(default_factory=ChannelDefaults)
    zalo: ZaloConfig | None = None
    zalouser: ZalouserConfig | None = None

    def plugin_section(self, channel: str) -> dict[str, Any] | None:
        """The raw section of a third-party channel, if written."""
        value = (self.model_extra or {}).get(channel)
        return value if isinstance(value, dict) else None


class PluginEntryConfig(ConfigModel):
    """``plugins.entries.<id>``."""

    enabled: bool | None = None
    config: dict[str, Any] | None = None


class PluginsConfig(ConfigModel):
    """``plugins``: which channel plugins may run (the CLI's choices live in the state dir)."""

    enabled: bool = True
    """``false`` disables every third-party plugin (the built-in channels stay)."""
    allow: list[str] | None = None
    """When set, only these plugin ids may run."""
    deny: list[str] | None = None
    entries: dict[str, PluginEntryConfig] = Field(default_factory=dict)


class ZalogateConfig(ConfigModel):
    """The whole config file. Build it with ``load_config`` or ``parse_config``."""

    schema_: str | None = Field(default=None, alias="$schema")
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    bindings: list[BindingConfig] = Field(default_factory=list)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

    _env: dict[str, str] | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        """The file this config was loaded from (``None`` for defaults or a dict)."""
        return self._source
