"""A real 3-server NATS cluster with JetStream on loopback, started by the tests."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig
from zalogate.testing.nats_servers import NatsCluster, nats_server_binary

if nats_server_binary() is None:  # pragma: no cover - the dev extra installs it
    pytest.skip("nats-server is not installed (the cluster extra)", allow_module_level=True)

_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    root: Path = tmp_path_factory.mktemp("nats")
    with NatsCluster(root, size=3) as cluster:
        yield cluster


@pytest.fixture
def cluster_section(nats_cluster: NatsCluster) -> dict[str, Any]:
    """A fresh cluster's ``gateway.cluster`` (its own prefix) on the shared NATS servers."""
    return {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"t{next(_prefixes)}",
        "leaseTtlSeconds": 2,
        "partitions": 4,
    }


@pytest.fixture
def cluster_settings(cluster_section: dict[str, Any]) -> ClusterConfig:
    """Settings of a fresh cluster (its own prefix) on the shared NATS servers."""
    return ClusterConfig.model_validate({**cluster_section, "maxConcurrency": 8})


@pytest.fixture
async def nodes(cluster_settings: ClusterConfig) -> AsyncIterator[tuple[ClusterNode, ClusterNode]]:
    """Two nodes of a fresh cluster, each with its own NATS connection."""
    async with (
        ClusterNode(cluster_settings, node_id="node-a") as a,
        ClusterNode(cluster_settings, node_id="node-b") as b,
    ):
        yield a, b
