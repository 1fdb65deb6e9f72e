"""`zalogate cluster`: look at a cluster of gateway nodes (``gateway.cluster`` in the config)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import load_runtime_config
from zalogate.cli.state import get_state, out_console, print_json
from zalogate.runtime.state_import import KindReport, transfer
from zalogate.runtime.wiring import cluster_state_sinks
from zalogate.store import DATABASE_FILENAME, Store, StoreError

__all__ = ["app"]

app = typer.Typer(
    help="Look at the cluster of gateway nodes on NATS; move a node's state into it.",
    no_args_is_help=True,
)

CONFLICTS_EXIT = 3
"""``import-state`` finished but kept entries the cluster holds differently."""


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the nodes, who holds which account, the inbox stream's lag and its consumers."""
    config, _ = load_runtime_config(get_state(ctx))
    settings = config.gateway.cluster
    if settings is None:
        raise CliError(_NO_CLUSTER)
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


_NO_CLUSTER = (
    "this config runs one process (no gateway.cluster); see docs/cluster.md to run several nodes"
)


@app.command("import-state")
def import_state(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            help="The node's state dir to read. Default: the one the config names.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would move; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Move a single node's approvals, pending pairing codes, allowlist edits, schedules,
    transcripts and paused conversations into the cluster's buckets.

    Safe to run again and on a running cluster: an entry the cluster holds already is left
    alone (a different one is reported as a conflict and kept). Exit code 0: done; 3: done,
    conflicts kept; 1: an error (one line saying why; what moved before it stays moved).
    """
    config, configured = load_runtime_config(get_state(ctx))
    if config.gateway.cluster is None:
        raise CliError(_NO_CLUSTER)
    source = (state_dir or configured).expanduser()
    if not (source / DATABASE_FILENAME).is_file():
        raise CliError(
            f"no zalogate state in {source} ({DATABASE_FILENAME} not found); pass"
            " --state-dir DIR, the state dir of the node whose state moves"
        )

    async def main() -> list[KindReport]:
        async with (
            await Store.open(source) as store,
            cluster_state_sinks(
                config, name="zalogate-import-state", source=str(source.resolve())
            ) as sinks,
        ):
            if sinks is None:  # pragma: no cover - checked above
                raise CliError(_NO_CLUSTER)
            return await transfer(store, sinks, dry_run=dry_run)

    try:
        reports = asyncio.run(main())
    except ConnectionError as exc:  # NATS away or refusing (ClusterUnavailableError)
        raise CliError(str(exc)) from None
    except TimeoutError:
        raise CliError(
            "NATS stopped answering during the move; what moved stays moved: run the"
            " command again once the cluster has a majority"
        ) from None
    except (StoreError, sqlite3.Error, OSError) as exc:
        raise CliError(
            f"could not read the state in {source} ({type(exc).__name__}: {exc});"
            " check the path and its permissions"
        ) from None
    conflicts = sum(len(r.conflicts) for r in reports)
    if as_json:
        kinds = [r.to_json() for r in reports]
        print_json({"stateDir": str(source), "dryRun": dry_run, "kinds": kinds})
    else:
        _print_moves(source, reports, dry_run=dry_run)
    if conflicts:
        raise typer.Exit(CONFLICTS_EXIT)


def _print_moves(source: Path, reports: list[KindReport], *, dry_run: bool) -> None:
    verb = "would move" if dry_run else "moved"
    out_console.print(f"from {source} into the cluster's buckets", markup=False)
    table = Table("kind", verb, "already there", "conflicts (kept)")
    for report in reports:
        table.add_row(
            report.kind, str(report.moved), str(report.present), str(len(report.conflicts))
        )
    out_console.print(table)
    for report in reports:
        for label in report.conflicts[:20]:
            out_console.print(f"conflict: {report.kind} {label}", markup=False)
        if len(report.conflicts) > 20:
            more = len(report.conflicts) - 20
            out_console.print(f"conflict: {report.kind}: {more} more (--json lists all)")
    if dry_run:
        out_console.print("dry run: nothing written", markup=False)


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
