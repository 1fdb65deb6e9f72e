"""A Bot API account's webhook is accepted by every node of a cluster, not only by the node
running the account: two in-process gateways on a real 3-server NATS cluster, the Bot API
fake posting its webhooks to the standby node (as a load balancer would)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.channel import ZaloChannelOptions, plugin_with_options
from zalogate.runtime.control import MessageRequest
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .in_process import account_state, cluster_node, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SECRET = "cluster-webhook-secret"
TINY = BackoffConfig(min_delay=0.01, max_delay=0.05, jitter=0.0)


@contextlib.asynccontextmanager
async def webhook_node(
    fake: FakeZaloBotApi, cluster: dict[str, Any], name: str, root: Path
) -> AsyncIterator[Gateway]:
    section = {
        "botToken": fake.token,
        "apiBaseUrl": fake.base_url,
        "dmPolicy": "open",
        "allowFrom": ["*"],
        "webhookUrl": "https://example.com/hooks/zalo",
        "webhookSecret": SECRET,
    }
    plugin = plugin_with_options(ZaloChannelOptions(env={}, polling_backoff=TINY))
    async with cluster_node(cluster, name, root, {"zalo": section}, plugin) as gateway:
        yield gateway


def state(gateway: Gateway) -> AccountState | None:
    return account_state(gateway, "zalo")


async def test_a_standby_node_accepts_the_webhook_and_the_cluster_answers_once(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        FakeZaloBotApi(webhook_retry_delays=(0.05, 0.1, 0.2)) as fake,
        webhook_node(fake, cluster_section, "a", tmp_path) as holder,
    ):
        await until(lambda: state(holder) is AccountState.RUNNING)
        await fake.wait_for_calls("setWebhook")
        async with webhook_node(fake, cluster_section, "b", tmp_path) as standby:
            await until(lambda: state(standby) is AccountState.STANDBY)
            await until(lambda: "/hooks/zalo" in standby.http.mounted())

            async with httpx2.AsyncClient(trust_env=False) as client:
                forged = await client.post(
                    f"{standby.url}/hooks/zalo",
                    json={"event_name": "message.text.received"},
                    headers={"X-Bot-Api-Secret-Token": "not-the-secret"},
                )
            assert forged.status_code in (401, 403)

            fake.deliver_webhooks_to = standby.url  # the load balancer picks node b
            user = fake.user("u1")
            user.says("one")
            user.says("two")
            replies = await fake.wait_for_sent(2, chat_id="u1")
            assert [r.text for r in replies] == ["one", "two"]
            assert fake.webhook_deliveries == 2
            assert not fake.webhook_failures
            assert state(standby) is AccountState.STANDBY  # b never ran the account
            # One conversation runs in order: a second answer to "one" would precede "two".
            assert [r.text for r in fake.sent if r.chat_id == "u1"] == ["one", "two"]

            # A Bot API account sends from any node, also where it stands by.
            request = MessageRequest(target="u1", text="from b")
            await standby.send_message("zalo", "default", request)
            sent = await fake.wait_for_sent(3, chat_id="u1")
            assert [r.text for r in sent] == ["one", "two", "from b"]
