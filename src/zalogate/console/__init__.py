"""The operator console: ``/console`` pages and ``/metrics``, served by the gateway.

See ``docs/console.md``. :class:`Console` builds both ASGI apps for a running gateway;
:func:`login_link` makes the one-time link ``zalogate console`` prints.
"""

from zalogate.console.app import Console
from zalogate.console.auth import login_link

__all__ = ["Console", "login_link"]
