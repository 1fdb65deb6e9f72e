"""`zalogate cluster`: look at a cluster of gateway nodes (``gateway.cluster`` in the config)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import load_runtime_config
from zalogate.cli.state import get_state, out_console, print_json

__all__ = ["app"]

app = typer.Typer(help="Look at the cluster of gateway nodes on NATS.", no_args_is_help=True)


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the nodes, who holds which account, the inbox stream's lag and its consumers."""
    config, _ = load_runtime_config(get_state(ctx))
    settings = config.gateway.cluster
    if settings is None:
        raise CliError(
            "this config runs one process (no gateway.cluster); see docs/cluster.md to run"
            " several nodes"
        )
    try:
        from zalogate.cluster.status import cluster_status
    except ImportError:
        raise CliError(
            "the cluster needs the NATS client: pip install 'zalogate[cluster]'"
        ) from None
    try:
        body = asyncio.run(cluster_status(settings))
    except ConnectionError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json(body)
        return
    _print(body)


def _print(body: dict[str, Any]) -> None:
    inbox = body["inbox"]
    out_console.print(
        f"cluster {body['prefix']!r} (via {body['connected_to']}): {len(body['nodes'])} node(s),"
        f" inbox {inbox['messages']} message(s), {inbox['pending']} waiting,"
        f" {inbox['in_flight']} in work, {inbox['dead_letters']} dead letter(s)",
        markup=False,
    )
    nodes = Table("node", "url", "leases", "processed")
    for node in sorted(body["nodes"], key=lambda n: str(n.get("node"))):
        nodes.add_row(
            str(node.get("node", "")),
            str(node.get("url", "")),
            ", ".join(node.get("leases") or []) or "-",
            str(node.get("processed", 0)),
        )
    out_console.print(nodes)
    leases = Table("account", "held by")
    for lease in body["leases"]:
        leases.add_row(lease["account"], lease["node"])
    out_console.print(leases)
    scheduler = body.get("scheduler") or "no node (none running)"
    out_console.print(f"scheduled messages sent by: {scheduler}", markup=False)
    replicas = Table("inbox replica", "role", "current", "lag")
    for replica in inbox["replicas"]:
        role = (
            "leader" if replica["leader"] else "offline" if replica.get("offline") else "follower"
        )
        replicas.add_row(
            str(replica["server"]), role, "yes" if replica["current"] else "no", str(replica["lag"])
        )
    out_console.print(replicas)
    busy = [c for c in body["consumers"] if c["pending"] or c["in_flight"] or c["redelivered"]]
    if busy:
        consumers = Table("partition consumer", "waiting", "in work", "redelivered")
        for consumer in busy[:20]:
            consumers.add_row(
                consumer["name"],
                str(consumer["pending"]),
                str(consumer["in_flight"]),
                str(consumer["redelivered"]),
            )
        out_console.print(consumers)
