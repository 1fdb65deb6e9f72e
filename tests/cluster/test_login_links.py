"""A console login link in a cluster works once on whichever node gets it first (real NATS
servers): the nonce is taken with a KV create, so every other node refuses it."""

from __future__ import annotations

import asyncio

from zalogate.cluster import ClusterNode
from zalogate.console.auth import ConsoleAuth, Session, login_link


def params_of(link: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))


async def test_a_link_opens_one_session_in_the_whole_cluster(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    key = nodes[0].link_key
    assert key
    assert key == nodes[1].link_key  # one signing key for the whole cluster
    a, b = [ConsoleAuth(lambda: key, links=n.login_links) for n in nodes]
    link = params_of(login_link("http://gw", key))
    assert isinstance(await a.redeem(link["n"], link["e"], link["s"]), Session)
    assert await b.redeem(link["n"], link["e"], link["s"]) == "link_used"
    assert await a.redeem(link["n"], link["e"], link["s"]) == "link_used"

    # Both nodes at once: exactly one wins.
    race = params_of(login_link("http://gw", key))
    results = await asyncio.gather(
        *(auth.redeem(race["n"], race["e"], race["s"]) for auth in (a, b, a, b))
    )
    assert sum(isinstance(r, Session) for r in results) == 1
    assert sorted(r for r in results if not isinstance(r, Session)) == ["link_used"] * 3
    # A forged link never reaches the bucket (it cannot burn someone's nonce).
    fresh = params_of(login_link("http://gw", key))
    assert await b.redeem(fresh["n"], fresh["e"], "0" * 64) == "link_invalid"
    assert isinstance(await b.redeem(fresh["n"], fresh["e"], fresh["s"]), Session)
