"""The runtime: the gateway process, its HTTP server, status records and logging.

``Gateway`` wires the store, the inbox, the pipeline and the channels together and supervises
one monitor per enabled channel account; ``HttpServer`` serves ``/healthz`` and the routes
channels mount; ``configure_logging`` installs the redacting log handlers.
"""

from zalogate.runtime.gateway import Gateway, GatewayWiring, classify_failure, collect_secrets
from zalogate.runtime.http import HttpServer, RouteConflictError
from zalogate.runtime.logging import (
    RedactingFilter,
    configure_logging,
    gateway_log_path,
    redact,
    register_secret,
    reset_logging,
)
from zalogate.runtime.status import AccountState, AccountStatus, StatusBoard

__all__ = [
    "AccountState",
    "AccountStatus",
    "Gateway",
    "GatewayWiring",
    "HttpServer",
    "RedactingFilter",
    "RouteConflictError",
    "StatusBoard",
    "classify_failure",
    "collect_secrets",
    "configure_logging",
    "gateway_log_path",
    "redact",
    "register_secret",
    "reset_logging",
]
