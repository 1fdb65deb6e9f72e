"""Where a gateway listens by default, and the URL a client reaches it at.

Kept apart from :mod:`zalogate.runtime.http` (uvicorn, starlette) so that commands that only
ask a running gateway (``gateway status``, ``channels status``) import no server code.
"""

from __future__ import annotations

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "HEALTH_PATH", "gateway_url"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18789
HEALTH_PATH = "/healthz"

# A server bound to every interface is reached through the loopback address.
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared, not bound


def gateway_url(host: str | None = None, port: int | None = None) -> str:
    """``http://<host>:<port>`` of a gateway (IPv6 in brackets; a wildcard host is loopback)."""
    host = host or DEFAULT_HOST
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    port = DEFAULT_PORT if port is None else port
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"http://{netloc}"
