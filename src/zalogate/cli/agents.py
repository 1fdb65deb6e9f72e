"""``zalogate agents``: the agents of the config and the bindings that route to them."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from zalogate.agents.factory import agent_sections
from zalogate.agents.routing import Binding
from zalogate.cli.channel_access import load_cli_config
from zalogate.cli.state import get_state, out_console, print_json

__all__ = ["app"]

app = typer.Typer(help="Show the agents and the bindings that route messages to them.")


@app.callback()
def _group() -> None:
    """Show the agents and the bindings that route messages to them."""


def _field(section: Any, name: str) -> Any:
    return section.get(name) if isinstance(section, dict) else getattr(section, name, None)


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the agents (the default one is marked)."""
    config, _ = load_cli_config(get_state(ctx))
    sections, default_id = agent_sections(config)
    bindings = [Binding.from_config(b) for b in config.bindings]
    rows = [
        {
            "id": agent_id,
            "type": str(_field(section, "type") or "echo"),
            "name": _field(section, "name"),
            "default": agent_id == default_id,
            "bindings": sum(1 for b in bindings if b.agent_id == agent_id),
        }
        for agent_id, section in sections
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Agents ({len(rows)})", title_justify="left")
    for column in ("Id", "Type", "Name", "Default", "Bindings"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["type"],
            row["name"] or "",
            "yes" if row["default"] else "",
            str(row["bindings"]),
        )
    out_console.print(table)


@app.command("bindings")
def bindings_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the bindings in config order, with how specific each one is."""
    config, _ = load_cli_config(get_state(ctx))
    bindings = [Binding.from_config(b) for b in config.bindings]
    default_id = agent_sections(config)[1]
    if as_json:
        print_json(
            {
                "defaultAgent": default_id,
                "bindings": [{**b.to_json(), "tier": b.tier} for b in bindings],
            }
        )
        return
    if not bindings:
        out_console.print(f"No bindings: every message goes to the default agent {default_id!r}.")
        return
    table = Table(title=f"Bindings ({len(bindings)})", title_justify="left")
    for column in ("#", "Agent", "Channel", "Account", "Peer", "Tier"):
        table.add_column(column)
    for index, b in enumerate(bindings):
        account = b.account_id or "(default account)"
        peer = f"{b.peer_kind}:{b.peer_id}" if b.peer_id else ""
        table.add_row(str(index), b.agent_id, b.channel, account, peer, b.tier)
    out_console.print(table)
    out_console.print(f"Otherwise: the default agent {default_id!r}.", markup=False)
