"""The console's allowlist edits and sessions shared by every node (JetStream KV, real
servers): an edit on node A holds on node B without a restart, a login on A holds on B."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zalogate.cluster import ClusterNode
from zalogate.cluster.console_state import KvAccessOverlayStore
from zalogate.console.auth import SESSION_TTL_S, ConsoleAuth
from zalogate.core.access import AccountPolicy, decide_dm, policy_from_settings
from zalogate.core.access_overlay import AccessOverlays, OverlayEntry, apply_overlay

SETTINGS = {"dmPolicy": "allowlist", "allowFrom": ["111"]}


class PolicyCache:
    """What a node holds: a cached policy per account, dropped when the overlay announces a
    change (as ``GatewayWiring.access_changed`` does)."""

    def __init__(self, overlays: AccessOverlays) -> None:
        self.overlays = overlays
        self.cached: dict[tuple[str, str], AccountPolicy] = {}
        self.dropped: list[tuple[str, str]] = []
        overlays.subscribe(self.drop)

    def drop(self, channel: str, account: str) -> None:
        self.dropped.append((channel, account))
        self.cached.pop((channel, account), None)

    def policy(self) -> AccountPolicy:
        key = ("zalo", "shop")
        if key not in self.cached:
            overlay = self.overlays.get(*key)
            self.cached[key] = apply_overlay(policy_from_settings("zalo", SETTINGS), overlay)
        return self.cached[key]

    def answers(self, sender: str) -> bool:
        return decide_dm(self.policy(), sender).allowed


async def follow(node: ClusterNode, *, every: float = 30.0) -> PolicyCache:
    overlays = AccessOverlays(node.access_store)
    await overlays.load()
    await node.follow_access(overlays.reload, every=every)
    return PolicyCache(overlays)


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.05)


async def test_an_allowlist_edit_on_one_node_holds_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = [await follow(node) for node in nodes]
    assert not b.answers("333")
    assert b.answers("111")  # cached on B before any edit

    await a.overlays.allow("zalo", "shop", "allowFrom", "333")
    await eventually(lambda: b.answers("333"))
    assert ("zalo", "shop") in b.dropped  # B's cached policy was dropped, not waited out

    await a.overlays.block("zalo", "shop", "allowFrom", "111")  # a config entry, hidden
    await eventually(lambda: not b.answers("111"))
    await a.overlays.forget("zalo", "shop", "allowFrom", "333")
    await eventually(lambda: not b.answers("333"))
    assert b.answers("999") is False

    # B edits too; both see the same overlay, each edit kept (compare-and-set per account).
    await asyncio.gather(
        a.overlays.allow("zalo", "shop", "allowFrom", "444"),
        b.overlays.allow("zalo", "shop", "allowFrom", "555"),
    )
    await eventually(lambda: a.answers("555") and b.answers("444"))
    assert a.overlays.get("zalo", "shop") == b.overlays.get("zalo", "shop")
    assert b.overlays.get("zalo", "other").entries == ()  # never across accounts

    # A new node (a restart) reads the same edits.
    fresh = AccessOverlays(nodes[1].access_store)
    await fresh.load()
    assert fresh.get("zalo", "SHOP") == b.overlays.get("zalo", "shop")


async def test_a_missed_notification_is_made_up_by_the_periodic_reload(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    b = await follow(nodes[1], every=0.3)
    assert not b.answers("777")
    silent = KvAccessOverlayStore(nodes[0].access_store.bucket)  # writes, announces nothing
    await silent.put("zalo", "shop", OverlayEntry("allowFrom", "777", False, 1))
    await eventually(lambda: b.answers("777"))


async def test_a_reconnect_reloads_at_once(nodes: tuple[ClusterNode, ClusterNode]) -> None:
    b = await follow(nodes[1])  # the periodic reload is 30 s away
    silent = KvAccessOverlayStore(nodes[0].access_store.bucket)
    await silent.put("zalo", "shop", OverlayEntry("allowFrom", "888", False, 1))
    await asyncio.sleep(0.3)
    assert not b.answers("888")  # nobody said anything
    await nodes[1]._reconnected()  # what nats-py calls after a reconnect
    await eventually(lambda: b.answers("888"))


async def test_a_console_session_opened_on_one_node_holds_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    now = [1_000_000.0]
    a, b = (ConsoleAuth(lambda: "k", clock=lambda: now[0], store=n.sessions) for n in nodes)
    session = a.open_session()
    await a.settled()
    on_b = await b.lookup(session.cookie)
    assert on_b is not None
    assert (on_b.id, on_b.csrf) == (session.id, session.csrf)
    assert b.csrf_ok(on_b, session.csrf)
    assert await b.lookup("not-a-cookie") is None

    session.lang = "en"  # the language switch on A
    a.remember(session)
    await a.settled()
    assert (await b.lookup(session.cookie) or on_b).lang == "en"

    # Only the cookie's hash is stored.
    keys = await nodes[0].sessions.bucket.keys("s.")
    assert keys == [f"s.{session.id}"]
    assert all(session.cookie not in k for k in keys)

    b.close(on_b)  # logout on B: A refuses the cookie on its next request
    await b.settled()
    assert await a.lookup(session.cookie) is None

    later = a.open_session()
    await a.settled()
    now[0] += SESSION_TTL_S + 1
    assert await b.lookup(later.cookie) is None  # expired
    assert await nodes[1].sessions.load(now[0]) == []
