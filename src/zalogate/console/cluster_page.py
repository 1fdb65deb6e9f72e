"""The console's Cluster page (``/console/cluster``): nodes, leases, the inbox stream.

The same data as ``zalogate cluster status``, read through this node's NATS connection. In
the single-node default the page says there is no cluster and the menu does not link it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from zalogate.console.auth import Session
from zalogate.core.errors import describe_error
from zalogate.runtime.logging import redact

if TYPE_CHECKING:
    from zalogate.console.app import Console

__all__ = ["cluster_routes"]

_CONSUMERS_SHOWN = 10


def cluster_routes(console: Console) -> list[BaseRoute]:
    """The Cluster page, behind the console's guard."""

    async def page(request: Request, session: Session) -> Response:
        node = console.gateway.cluster
        if node is None:
            return console.render(request, session, "cluster.html", cluster=None, error=None)
        try:
            data = await node.snapshot()
        except Exception as exc:
            error = redact(describe_error(exc))
            return console.render(request, session, "cluster.html", cluster=None, error=error)
        return console.render(
            request, session, "cluster.html", cluster=_view(data, node.node_id), error=None
        )

    async def endpoint(request: Request) -> Response:
        return await console.guard(request, page)

    return [Route("/console/cluster", endpoint, methods=["GET", "HEAD"])]


def _view(data: dict[str, Any], me: str) -> dict[str, Any]:
    """``data`` shaped for the template (times as text, this node marked, busiest first)."""
    held: dict[str, list[str]] = {}
    for lease in data["leases"]:
        held.setdefault(str(lease["node"]), []).append(str(lease["account"]))
    nodes = [
        {
            "node": str(n.get("node", "")),
            "me": n.get("node") == me,
            "url": str(n.get("url") or ""),
            "leases": n.get("leases") or held.get(str(n.get("node")), []),
            "processed": int(n.get("processed") or 0),
            "seen": _when(n.get("seen_at")),
        }
        for n in sorted(data["nodes"], key=lambda n: str(n.get("node", "")))
    ]
    return {
        "prefix": data["prefix"],
        "connected_to": data.get("connected_to") or "",
        "nodes": nodes,
        "leases": data["leases"],
        "inbox": data["inbox"],
        "consumers": data["consumers"][:_CONSUMERS_SHOWN],
    }


def _when(ms: Any) -> str:
    if not isinstance(ms, int | float) or not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S UTC")
