"""The runtime: the gateway process, its HTTP server, status records and logging.

``Gateway`` wires the store, the inbox, the pipeline and the channels together and supervises
one monitor per enabled channel account; ``HttpServer`` serves ``/healthz`` and the routes
channels mount; ``configure_logging`` installs the redacting log handlers.

The names are imported on first use, so that a command needing only ``runtime.logging`` (most
of the CLI) does not import the gateway, the HTTP server and uvicorn with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zalogate.runtime.gateway import (
        Gateway,
        GatewayWiring,
        classify_failure,
        collect_secrets,
    )
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

_MODULES = {
    "zalogate.runtime.gateway": ("Gateway", "GatewayWiring", "classify_failure", "collect_secrets"),
    "zalogate.runtime.http": ("HttpServer", "RouteConflictError"),
    "zalogate.runtime.logging": (
        "RedactingFilter",
        "configure_logging",
        "gateway_log_path",
        "redact",
        "register_secret",
        "reset_logging",
    ),
    "zalogate.runtime.status": ("AccountState", "AccountStatus", "StatusBoard"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
