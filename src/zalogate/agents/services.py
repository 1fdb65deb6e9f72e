"""What the running gateway lends agents that act outside a turn (deferred replies, reactions,
the ``schedule`` tool): the store, the HTTP server, the channels and a way to send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zalogate.core.model import ReplyPayload

if TYPE_CHECKING:
    from zalogate.agents.transcripts import TranscriptStore
    from zalogate.core.channel import Channel, RouteRegistrar
    from zalogate.store import Store

__all__ = ["AgentServices", "Send"]

Send = Callable[[str, str, str, ReplyPayload], Awaitable[Sequence[str]]]
"""``(channel, account id, target, payload) -> message ids``: send through a running account."""


@dataclass(slots=True)
class AgentServices:
    """Filled by the gateway; a bare one (tests, ``mcp``) lends nothing."""

    store: Store | None = None
    routes: RouteRegistrar | None = None
    send: Send | None = None
    base_url: Callable[[], str] = lambda: ""
    channels: Mapping[str, Channel] = field(default_factory=dict)
    transcripts: TranscriptStore | None = None
    """Where agents keep transcripts (the cluster's KV); None: the SQLite ones on ``store``."""
