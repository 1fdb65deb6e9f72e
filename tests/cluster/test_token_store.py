"""The cluster's OA grant store on a real NATS cluster: sealed values, refresh claims."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors
import pytest

from zalogate.cluster import ClusterNode
from zalogate.cluster.tokens import CLAIM_SECONDS, KvTokenStores
from zalogate.oa import StoredGrant, TokenFile, TokenPair

PAIR = TokenPair("access-1", "refresh-1", 2_000_000_000.0)
NEWER = TokenPair("access-2", "refresh-2", 2_000_000_100.0)


def stores(node: ClusterNode, clock: list[float]) -> KvTokenStores:
    assert node.token_stores is not None
    return KvTokenStores(node.token_stores.bucket, clock=lambda: clock[0])


async def test_the_first_node_seeds_the_grant_and_a_late_node_takes_the_newer_pair(
    nodes: tuple[ClusterNode, ClusterNode], tmp_path: Path
) -> None:
    a, b = nodes
    clock = [1000.0]
    a_file, b_file = TokenFile(tmp_path / "a", "grant"), TokenFile(tmp_path / "b", "grant")
    a_file.save(NEWER)
    b_file.save(PAIR)  # an older grant: b joined late
    first = stores(a, clock).shared(("zalooa", "x"), secret="app-secret", local=a_file)
    second = stores(b, clock).shared(("zalooa", "x"), secret="app-secret", local=b_file)
    assert (await first.read()).pair == NEWER
    assert (await second.read()).pair == NEWER
    assert b_file.load() == NEWER  # mirrored to b's own file
    # A refused refresh marks the grant on every node; a consent saved on b's machine (the
    # CLI writes b's file) clears it and goes up to the bucket.
    await first.write_reauth("refresh refused")
    assert (await second.read()).reauth == "refresh refused"
    consent = TokenPair("access-3", "refresh-3", 2_000_000_200.0)
    b_file.save(consent)
    assert second.known() == StoredGrant(consent, None)
    assert (await second.read()).pair == consent
    assert await first.read() == StoredGrant(consent, None)
    # Another app secret does not open the value: no grant (a new consent replaces it).
    other = stores(b, clock).shared(
        ("zalooa", "x"), secret="rotated", local=TokenFile(tmp_path / "c", "grant")
    )
    assert (await other.read()).pair is None


async def test_a_refresh_claim_left_by_a_dead_node_expires(
    nodes: tuple[ClusterNode, ClusterNode], tmp_path: Path
) -> None:
    a, b = nodes
    clock = [1000.0]
    a_file = TokenFile(tmp_path / "a", "grant")
    a_file.save(PAIR)
    dead = stores(a, clock).shared(("zalooa", "y"), secret="s", local=a_file)
    alive = stores(b, clock).shared(("zalooa", "y"), secret="s", local=TokenFile(tmp_path, "g"))
    await dead.read()
    held = dead.exclusive()
    await held.__aenter__()  # and never leaves: the node died mid-refresh
    waiting = asyncio.create_task(alive.exclusive().__aenter__())
    await asyncio.sleep(0.2)
    assert not waiting.done()  # the claim holds
    clock[0] += CLAIM_SECONDS + 1
    await asyncio.wait_for(waiting, 10)
    assert (await alive.read()).pair == PAIR
    del held


class Unreachable:
    """A bucket whose NATS servers cannot be reached."""

    async def get(self, key: str) -> None:
        raise nats.errors.TimeoutError


async def test_sends_go_on_with_the_pair_in_hand_while_nats_is_unreachable(
    tmp_path: Path,
) -> None:
    local = TokenFile(tmp_path, "grant")
    local.save(PAIR)
    store = KvTokenStores(Unreachable()).shared(  # type: ignore[arg-type]
        ("zalooa", "z"), secret="s", local=local
    )
    assert (await store.read()).pair == PAIR
    with pytest.raises(nats.errors.TimeoutError):  # but no refresh without the claim
        await store.exclusive().__aenter__()
