"""Cluster mode: several gateway nodes on NATS JetStream (``gateway.cluster``).

Imported only when the config has a ``gateway.cluster`` section: it needs the ``cluster``
extra (``pip install 'zalogate[cluster]'``), and the single-node default never loads NATS.
"""

from __future__ import annotations

from zalogate.cluster.connection import ClusterUnavailableError
from zalogate.cluster.inbox import JetStreamInbox
from zalogate.cluster.leases import AccountLeases
from zalogate.cluster.node import ClusterNode

__all__ = ["AccountLeases", "ClusterNode", "ClusterUnavailableError", "JetStreamInbox"]
