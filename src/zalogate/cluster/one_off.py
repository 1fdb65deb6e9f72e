"""What a process that runs no accounts (a one-off command, ``zalogate mcp``) takes from the
cluster: the routing of a personal account's session acts to the node running it, and the
shared OAuth grants, on a NATS connection of its own.

A one-off command is never a second client of a personal account while a node runs it: what
it does from the session goes through that node (:class:`OwnerRoutedChannel`), and only when
the lease bucket says that *no* node holds the account does it act from this machine's saved
session. It never refreshes an Official Account's grant on its own either: it reads and
refreshes the cluster's pair (``zalogate.cluster.tokens``), so a stale token file on this
machine cannot burn the single-use refresh token the nodes depend on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, NotFoundError

from zalogate.cluster.connection import connect
from zalogate.cluster.layout import Layout, kv_key
from zalogate.cluster.session_owner import OwnerRoutedChannel
from zalogate.cluster.shared import token_stores
from zalogate.cluster.tokens import KvTokenStores
from zalogate.config.cluster import ClusterConfig
from zalogate.core.channel import Channel, ChannelAccount
from zalogate.core.traits import traits_for

__all__ = ["open_one_off"]

log = logging.getLogger("zalogate.cluster")

Route = Callable[[Channel], Channel]


@contextlib.asynccontextmanager
async def open_one_off(
    settings: ClusterConfig, *, name: str, routing: bool, grants: bool
) -> AsyncIterator[tuple[Route | None, KvTokenStores | None]]:
    """A connection to the cluster (closed afterwards) and what comes through it: the wrapper
    that routes a channel's session acts to the node running the account (``routing``; a
    channel whose traits do not ask for it is left as it is) and the shared grants
    (``grants``); None for what was not asked.

    Raises:
        ClusterUnavailableError: NATS cannot be reached.
    """
    client = await connect(settings, name=name)
    try:
        stores = await token_stores(client.jetstream(timeout=5.0), settings) if grants else None
        yield (_router(client, settings) if routing else None), stores
    finally:
        await client.close()


def _router(client: Client, settings: ClusterConfig) -> Route:
    layout = Layout(settings.prefix, settings.partitions)
    js = client.jetstream(timeout=5.0)

    def wrap(channel: Channel) -> Channel:
        if not traits_for(channel.id).sends_need_session_owner:
            return channel

        async def unheld(account: ChannelAccount) -> bool:
            """True only when the lease bucket says for sure that nobody holds it."""
            try:
                leases = await js.key_value(layout.lease_bucket)
                await leases.get(kv_key("account", channel.id, account.account_id))
            except (BucketNotFoundError, NotFoundError):  # no cluster yet, or no holder
                return True
            except Exception as exc:  # unsure (NATS slow): never a second client
                log.debug("lease of %s/%s unknown: %s", channel.id, account.account_id, exc)
            return False

        return OwnerRoutedChannel(
            channel,
            client,
            layout,
            timeout=settings.send_timeout_seconds,
            lookup_timeout=settings.lookup_timeout_seconds,
            unheld=unheld,
        )

    return wrap
