"""A node's ``/metrics`` carries the ``zalogate_cluster_*`` series and its console a Cluster
page, both from the real 3-server NATS cluster; a single node's console has no cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from zalogate.runtime.status import AccountState
from zalogate.testing.fake_botapi import FakeZaloBotApi

from ..console.test_console_security import logged_in
from ..runtime.test_account_control import ScriptedChannel, is_running, make_gateway, until
from .test_webhook_any_node import state, webhook_node
from .test_webhook_any_node import until as eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_metrics_and_the_console_show_the_cluster(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        FakeZaloBotApi() as fake,
        webhook_node(fake, cluster_section, "a", tmp_path) as node,
    ):
        await eventually(lambda: state(node) is AccountState.RUNNING)
        lease = ("zalogate_cluster_leases", (("holder", "a"),))
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        async with httpx2.AsyncClient(trust_env=False) as client, asyncio.timeout(30):
            while lease not in samples:  # the cluster's view is read every 2 s at most
                if samples:
                    await asyncio.sleep(0.5)
                exposition = (await client.get(f"{node.url}/metrics")).text
                samples = {
                    (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                    for family in text_string_to_metric_families(exposition)
                    for sample in family.samples
                }
        assert samples[("zalogate_cluster_up", (("node", "a"),))] == 1.0
        assert samples[("zalogate_cluster_leases_held", (("node", "a"),))] == 1.0
        assert samples[("zalogate_cluster_node_up", (("peer", "a"),))] == 1.0
        assert samples[("zalogate_cluster_leases", (("holder", "a"),))] == 1.0
        assert samples[("zalogate_cluster_inbox_pending", ())] == 0.0
        lags = [key for key in samples if key[0] == "zalogate_cluster_replica_lag"]
        assert len(lags) == 3  # the inbox stream on every NATS server

        browser, _ = await logged_in(node)
        try:
            overview = await browser.get("/console/")
            assert 'href="/console/cluster"' in overview.text
            page = await browser.get("/console/cluster")
        finally:
            await browser.aclose()
        assert page.status_code == 200
        assert 'data-node="a"' in page.text
        assert "<td>zalo.default</td><td>a</td>" in page.text  # the lease and its holder
        assert f"{cluster_section['prefix'].upper()}_INBOX" in page.text
        assert fake.token not in page.text


@pytest.mark.timeout(30)
async def test_a_single_node_console_has_no_cluster_page_link(tmp_path: Path) -> None:
    async with make_gateway(tmp_path, ScriptedChannel(["a"], {})) as gateway:
        await until(is_running(gateway, "a"))
        browser, _ = await logged_in(gateway)
        try:
            assert "/console/cluster" not in (await browser.get("/console/")).text
            page = await browser.get("/console/cluster")
        finally:
            await browser.aclose()
    assert page.status_code == 200
    assert "single node" in page.text or "một nút" in page.text
