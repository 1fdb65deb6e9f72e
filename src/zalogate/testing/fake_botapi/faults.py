"""Injected faults: failed, erroring, hanging and dropped requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from zalogate.testing.fake_botapi.models import Fault, Reply
from zalogate.testing.fake_botapi.state import BotApiState
from zalogate.testing.http_server import HttpRequest


class Faults(BotApiState):
    """Queueing faults per method and playing them on a request."""

    def _add_fault(self, method: str, fault: Fault) -> None:
        self._faults.setdefault(method, deque()).append(fault)

    def pass_next(self, method: str, *, count: int = 1) -> None:
        """Answer the next ``count`` calls as usual: the faults queued after it hit later
        calls (e.g. the second chunk of a reply)."""
        self._add_fault(method, Fault("pass", count))

    def fail_next(
        self, method: str, status: int = 500, *, count: int = 1, html: bool | None = None
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"`` = any) with HTTP ``status``.

        429, 502, 503 and 504 come as nginx HTML pages unless ``html=False``; other statuses
        as ``{"ok": false, "error_code": status, ...}``.
        """
        as_html = status in (429, 502, 503, 504) if html is None else html
        self._add_fault(method, Fault("fail", count, status=status, html=as_html))

    def error_next(
        self,
        method: str,
        error_code: int | str = 400,
        description: str = "Bad request",
        *,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls with HTTP 200 ``{"ok": false, error_code, ...}``."""
        fault = Fault("error", count, error_code=error_code, description=description)
        self._add_fault(method, fault)

    def timeout_next(self, method: str, *, count: int = 1) -> None:
        """Hold the next ``count`` calls without answering until the client gives up."""
        self._add_fault(method, Fault("timeout", count))

    def drop_next(self, method: str, *, count: int = 1) -> None:
        """Close the connection of the next ``count`` calls without any answer."""
        self._add_fault(method, Fault("drop", count))

    def drop_after_next(self, method: str, *, count: int = 1) -> None:
        """Carry out the next ``count`` calls (a send is recorded), then close the connection
        without the answer: a reset after Zalo took the request."""
        self._add_fault(method, Fault("drop_after", count))

    def hold_after_next(self, method: str, *, count: int = 1) -> None:
        """Carry out the next ``count`` calls, then hold the answer until the client gives
        up: a send that outlives the client's timeout."""
        self._add_fault(method, Fault("hold_after", count))

    def _take_fault(self, method: str) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        return None

    async def _apply_fault(self, fault: Fault, request: HttpRequest) -> Reply:
        if fault.kind == "error":
            return self._error(fault.error_code or 400, fault.description or "Bad request")
        if fault.kind == "fail":
            reason = _REASONS.get(fault.status, "Error")
            if fault.html:
                page = (
                    f"<html>\r\n<head><title>{fault.status} {reason}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{fault.status} {reason}</h1></center>\r\n"
                    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                )
                return Reply(page.encode(), fault.status, "text/html; charset=utf-8")
            return self._error(fault.status, reason, fault.status)
        if fault.kind in ("timeout", "hold_after"):
            await self._hold_until_gone(request)
        request.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.wait_gone(), 1.0)
        return Reply(b"", 500)  # never written: the connection is closed

    async def _hold_until_gone(self, request: HttpRequest) -> bool:
        """Wait until the client disconnects or the server stops; True if the client left."""
        disconnect = asyncio.ensure_future(request.wait_gone())
        stop = asyncio.ensure_future(self._stop_signal.wait())
        try:
            await asyncio.wait({disconnect, stop}, return_when="FIRST_COMPLETED")
            return disconnect.done()
        finally:
            disconnect.cancel()
            stop.cancel()


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
