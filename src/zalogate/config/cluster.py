"""``gateway.cluster``: several gateway nodes sharing accounts and the inbox through NATS."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from zalogate.config.config_model import ConfigModel
from zalogate.config.urls import hide_userinfo

__all__ = ["ClusterConfig", "NatsConfig", "hide_userinfo"]

_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


class NatsConfig(ConfigModel):
    """``gateway.cluster.nats``: how a node reaches the NATS servers (JetStream enabled)."""

    servers: Annotated[list[str], Field(min_length=1)]
    """``nats://host:4222`` URLs; list every server of the NATS cluster."""
    credentials: str | None = None
    """A ``.creds`` file (NATS decentralised auth); relative to the config file's folder."""
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0

    @field_validator("servers")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(_SCHEMES):
                raise ValueError(
                    f"{hide_userinfo(url)!r} is not a NATS URL; write it as nats://host:4222"
                    " (or tls://...)"
                )
        return value

    def shown_servers(self) -> str:
        """The servers for messages: a ``user:password@`` in a URL shown as ``***@``."""
        return ", ".join(hide_userinfo(url) for url in self.servers)


class ClusterConfig(ConfigModel):
    """``gateway.cluster``: cluster mode; every node runs ``zalogate gateway run`` with it."""

    nats: NatsConfig
    node_id: str | None = None
    """This node's name in leases and ``cluster status`` (default: host name and pid)."""
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "zalogate"
    """Names the streams, buckets and subjects, so that two clusters can share one NATS."""
    lease_ttl_seconds: Annotated[float, Field(ge=1, le=300)] = 10.0
    """An account whose node died moves to another node within this time."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 3
    """Copies of each stream and bucket (at most the number of NATS servers)."""
    partitions: Annotated[int, Field(ge=1, le=4096)] = 64
    """Inbox partitions: one conversation is always in the same one, and a partition is
    processed one message at a time across the cluster."""
    max_concurrency: Annotated[int, Field(ge=1, le=4096)] = 64
    """Messages this node processes at the same time."""
    dedupe_window_seconds: Annotated[float, Field(ge=1)] = 3600.0
    """How long a redelivered message id is recognised and dropped."""
    send_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    """How long a send waits for the node holding the account's session (a personal
    account's sends go out there); no answer by then is an unknown delivery."""
    lookup_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    """How long a directory look-up, group member read or probe of a personal account waits
    for the node holding its session (it is done there); no answer by then is retryable."""
    session_key: SecretStr | None = None
    """Seals the saved logins the nodes share (a personal account's session), so that the
    node taking an account over logs in with it; unset: each node keeps its own."""
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8

    @field_validator("session_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "at least 16 characters; make one with `openssl rand -base64 32` and give every"
                " node the same"
            )
        return value
