"""Knobs of the ``zalouser`` channel that are not part of the user's config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx2

from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.channels.zalouser.outbound import SendRetry
from zalogate.net.urlguard import Resolver

__all__ = ["OPTIONS_EXTRA", "ZalouserChannelOptions"]

OPTIONS_EXTRA = "zalouser_options"
"""``ChannelContext.extras`` key under which a :class:`ZalouserChannelOptions` may be passed."""
_LOOKUP_TIMEOUT = 12.0


@dataclass(frozen=True, slots=True)
class ZalouserChannelOptions:
    """Knobs that are not part of the user's config (tests, the sandbox, benchmarks).

    Attributes:
        env: Environment for ``ZALOUSER_PROFILE`` / ``ZCA_PROFILE`` (default ``os.environ``).
        transport: ``httpx2`` transport of the personal client (tests).
        allow_loopback_media: Photo downloads and media URLs may point at 127.0.0.1 (a fake
            on this machine). Off by default: SSRF guard.
        allow_private_media: Also allow private networks (implies loopback).
        resolver: DNS resolver for the SSRF guard.
        monitor: Listener reconnect rules and timings.
        send_retry: Retries of one API call of a send.
        receipts: Send delivered + seen receipts for processed messages.
        receipt_delay: Seconds a receipt waits for others of its conversation (one batch).
        probe_timeout: Seconds a probe may take (at least 1).
        lookup_timeout: Seconds a directory lookup or a receipt may take.
        group_info_ttl: Seconds a group-info lookup is cached.
        login_wait: Seconds ``channels login`` waits for the scan and the confirmation.
        qr_timeout: Seconds one QR code is valid before it is renewed.
    """

    env: Mapping[str, str] | None = None
    transport: httpx2.AsyncBaseTransport | None = None
    allow_loopback_media: bool = False
    allow_private_media: bool = False
    resolver: Resolver | None = None
    monitor: MonitorOptions = field(default_factory=MonitorOptions)
    send_retry: SendRetry = field(default_factory=SendRetry)
    receipts: bool = True
    receipt_delay: float = 1.0
    probe_timeout: float = _LOOKUP_TIMEOUT
    lookup_timeout: float = _LOOKUP_TIMEOUT
    group_info_ttl: float = 300.0
    login_wait: float = 180.0
    qr_timeout: float = 100.0
