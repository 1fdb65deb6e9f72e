"""A real 3-server NATS cluster with JetStream on loopback, started by the tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def cluster_settings(nats_cluster: NatsCluster) -> ClusterConfig:
    """Settings of a fresh cluster (its own prefix) on the shared NATS servers."""
    return ClusterConfig.model_validate(
        {
            "nats": {"servers": nats_cluster.urls},
            "prefix": f"t{next(_prefixes)}",
            "leaseTtlSeconds": 2,
            "partitions": 4,
            "maxConcurrency": 8,
        }
    )
