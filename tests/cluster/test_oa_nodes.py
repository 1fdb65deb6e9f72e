"""An Official Account in a cluster: its webhook is accepted by every node, and its token pair
is shared through an encrypted KV document, refreshed once for the whole cluster. Two
in-process gateways on a real 3-server NATS cluster and the strict OA fake (a refresh burns
the refresh token and revokes the access token issued with it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.channels.zalooa import plugin
from zalogate.channels.zalooa.channel import ZalooaChannel
from zalogate.cluster.layout import Layout
from zalogate.oa import TokenFile, TokenKeeper, TokenPair
from zalogate.runtime.control import MessageRequest, SendRefusedError
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState
from zalogate.testing import FakeZaloOA

from .in_process import account_state, cluster_node, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HOOK = "/zalooa/default/webhook"


def seed(fake: FakeZaloOA, root: Path, name: str, *, age: float = 0.0) -> TokenPair:
    """A pair the fake issued, in node ``name``'s token file (``age`` seconds older)."""
    issued = fake.grant_pair()
    pair = TokenPair(issued["access_token"], issued["refresh_token"], fake.clock() + 90000 - age)
    TokenFile(root / name / "zalooa" / "default", "grant").save(pair)
    return pair


@contextlib.asynccontextmanager
async def oa_node(
    fake: FakeZaloOA, cluster: dict[str, Any], name: str, root: Path
) -> AsyncIterator[Gateway]:
    section = {**fake.channel_section(), "dmPolicy": "open", "allowFrom": ["*"]}
    async with cluster_node(cluster, name, root, {"zalooa": section}, plugin) as gateway:
        yield gateway


def state(gateway: Gateway) -> AccountState | None:
    return account_state(gateway, "zalooa")


def keeper(gateway: Gateway) -> TokenKeeper:
    channel = gateway.channels["zalooa"]
    assert isinstance(channel, ZalooaChannel)
    [account] = channel.accounts()
    return channel.live(account).keeper


@contextlib.asynccontextmanager
async def two_nodes(
    fake: FakeZaloOA, cluster: dict[str, Any], root: Path
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    async with oa_node(fake, cluster, "a", root) as holder:
        await until(lambda: state(holder) is AccountState.RUNNING)
        async with oa_node(fake, cluster, "b", root) as standby:
            await until(lambda: state(standby) is AccountState.STANDBY)
            await until(lambda: HOOK in standby.http.mounted())
            yield holder, standby


async def test_the_standby_node_takes_the_oa_webhook_and_the_cluster_answers_once(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloOA(webhook_retry_delays=()) as fake:
        seed(fake, tmp_path, "a")
        async with two_nodes(fake, cluster_section, tmp_path) as (holder, standby):
            fake.user("42")
            event = fake.user_message("42", "user_send_text", {"text": "one"})
            body = json.dumps(event).encode()
            async with httpx2.AsyncClient(trust_env=False) as client:
                forged = await client.post(
                    f"{standby.url}{HOOK}",
                    content=body,
                    headers={"X-ZEvent-Signature": "mac=" + "0" * 64},
                )
                broken = await client.post(f"{standby.url}{HOOK}", content=b"{not json")
            assert (forged.status_code, broken.status_code) == (401, 400)

            fake.webhook_url = f"{standby.url}{HOOK}"  # the load balancer picks node b
            first = await fake.deliver(event)
            again = await fake.redeliver(first)  # Zalo's retry, to the same node
            fake.webhook_url = f"{holder.url}{HOOK}"
            elsewhere = await fake.redeliver(first)  # ... and to the other node
            assert [d.status for d in (first, again, elsewhere)] == [200, 200, 200]
            await fake.deliver(fake.user_message("42", "user_send_text", {"text": "two"}))
            # One conversation is processed in order: a second answer to "one" would come
            # before the answer to "two".
            await fake.wait_for_sent(2)
            assert [m.text for m in fake.sent] == ["one", "two"]
            assert state(standby) is AccountState.STANDBY  # b never ran the account


async def test_the_cluster_shares_one_oa_token_pair_and_refreshes_it_once(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloOA() as fake:
        seeded = seed(fake, tmp_path, "a")
        stale_file = seed(fake, tmp_path, "b", age=3600)  # b joins with an older grant
        async with two_nodes(fake, cluster_section, tmp_path) as (holder, standby):
            fake.user("42")
            send = MessageRequest(target="42", text="from b")
            await standby.send_message("zalooa", "default", send)
            assert fake.calls[-1].headers["access_token"] == seeded.access_token
            b_file = TokenFile(tmp_path / "b" / "zalooa" / "default", "grant")
            assert b_file.load() == seeded  # b took the bucket's pair, not its file's
            assert stale_file != seeded

            # Zalo refuses a's token once: a refreshes; the old access token is revoked.
            fake.fail_next("/v3.0/oa/message/cs", -216, "Access token is invalid")
            await holder.send_message("zalooa", "default", MessageRequest(target="42", text="a"))
            assert fake.refresh_calls == 1
            fresh = fake.calls[-1].headers["access_token"]
            assert fresh != seeded.access_token
            # b sends with the pair a refreshed: one call, accepted, no refresh of its own.
            calls = len(fake.calls)
            await standby.send_message("zalooa", "default", send)
            assert [c.headers["access_token"] for c in fake.calls[calls:]] == [fresh]
            assert fake.refresh_calls == 1

            # Both nodes refresh at once (each was told its token is stale): one refresh.
            tokens = await asyncio.gather(
                keeper(holder).force_refresh(fresh), keeper(standby).force_refresh(fresh)
            )
            assert fake.refresh_calls == 2
            assert tokens[0] == tokens[1] != fresh
            assert keeper(holder).reauth_reason is None
            assert keeper(standby).reauth_reason is None
            await standby.send_message("zalooa", "default", send)
            assert fake.calls[-1].headers["access_token"] == tokens[0]

            # What NATS holds is sealed: no token in clear.
            layout = Layout(cluster_section["prefix"], cluster_section["partitions"])
            js = holder.cluster.handles.js
            entry = await (await js.key_value(layout.grant_bucket)).get("grant.zalooa.default")
            raw = entry.value or b""
            assert raw
            assert tokens[0].encode() not in raw
            assert b"access_token" not in raw


async def test_the_reply_window_is_decided_on_what_any_node_saw(
    cluster_section: dict[str, Any], tmp_path: Path
) -> None:
    async with FakeZaloOA() as fake:
        seed(fake, tmp_path, "a")
        async with two_nodes(fake, cluster_section, tmp_path) as (holder, standby):
            fake.user("42")
            channel = holder.channels["zalooa"]
            assert isinstance(channel, ZalooaChannel)
            [account] = channel.accounts()
            # a last saw user 42 three days ago: on its own record a reply would be billed
            three_days_ago = int((time.time() - 3 * 86400) * 1000)
            channel.live(account).interactions.touch("42", three_days_ago)
            request = MessageRequest(target="42", text="hello again")
            with pytest.raises(SendRefusedError) as refused:
                await holder.send_message("zalooa", "default", request)
            assert "billed reply" in str(refused.value)

            # The user follows the OA again; the load balancer hands the event to b.
            fake.users["42"].last_interaction = fake.clock()
            fake.webhook_url = f"{standby.url}{HOOK}"
            followed = await fake.deliver(fake.event("follow", follower={"id": "42"}))
            assert followed.status == 200
            # a decides on the follow b recorded: a free reply, sent
            await holder.send_message("zalooa", "default", request)
            assert [m.text for m in fake.sent] == ["hello again"]


def cli_machine(
    fake: FakeZaloOA, cluster: dict[str, Any], root: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point the CLI at a state dir and config of its own ("another machine"); its state."""
    section = {**fake.channel_section(), "redirectUri": fake.redirect_uri}
    config = root / "cli.json"
    config.write_text(
        json.dumps({"channels": {"zalooa": section}, "gateway": {"cluster": cluster}}),
        encoding="utf-8",
    )
    config.chmod(0o600)
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(root / "cli"))
    monkeypatch.setenv("HOME", str(root / "home"))
    return root / "cli"


async def cli(*args: str) -> int:
    from .test_cluster_cli import run_cli

    return await asyncio.to_thread(run_cli, list(args))


async def test_a_consent_started_anywhere_completes_on_whichever_node_gets_the_callback(
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with FakeZaloOA() as fake:
        seeded = seed(fake, tmp_path, "a")
        async with two_nodes(fake, cluster_section, tmp_path) as (holder, standby):
            fake.user("42")
            # The load balancer sends Zalo's redirect to b; the login runs on a third machine.
            fake.redirect_uri = f"{standby.url}/zalooa/default/oauth"
            state = cli_machine(fake, cluster_section, tmp_path, monkeypatch)
            command = asyncio.create_task(cli("channels", "login", "--channel", "zalooa"))
            printed = ""
            async with asyncio.timeout(20):
                while "/v4/oa/permission?" not in printed:
                    await asyncio.sleep(0.05)
                    printed += capsys.readouterr().out
            link = next(w for w in printed.split() if "/v4/oa/permission?" in w)
            async with httpx2.AsyncClient(trust_env=False) as browser:
                allowed = await browser.get(link)
                assert allowed.status_code == 302
                landed = await browser.get(allowed.headers["location"])
            assert landed.status_code == 200, landed.text
            assert await command == 0
            assert "authorised; tokens saved" in capsys.readouterr().out

            # Both nodes send with the pair the consent gave (not the seeded one).
            used = []
            for node in (holder, standby):
                await node.send_message("zalooa", "default", MessageRequest(target="42", text="x"))
                used.append(fake.calls[-1].headers["access_token"])
            assert used[0] == used[1] != seeded.access_token
            assert not (state / "zalooa" / "default" / "consent.json").exists()

            # A logout from that machine holds for the whole cluster.
            assert await cli("channels", "logout", "--channel", "zalooa") == 0
            with pytest.raises(SendRefusedError) as refused:
                await standby.send_message(
                    "zalooa", "default", MessageRequest(target="42", text="y")
                )
            assert "channels login" in str(refused.value)


async def test_a_one_off_send_uses_the_clusters_grant_not_a_stale_file(
    cluster_section: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with FakeZaloOA() as fake:
        seeded = seed(fake, tmp_path, "a")
        # This machine got a copy of the grant when the cluster was set up.
        TokenFile(tmp_path / "cli" / "zalooa" / "default", "grant").save(seeded)
        async with two_nodes(fake, cluster_section, tmp_path) as (holder, _standby):
            fake.user("42")
            # The cluster refreshes: the copied pair is dead now, its refresh token burned.
            fake.fail_next("/v3.0/oa/message/cs", -216, "Access token is invalid")
            await holder.send_message("zalooa", "default", MessageRequest(target="42", text="a"))
            assert fake.refresh_calls == 1
            current = fake.calls[-1].headers["access_token"]
            fake.redirect_uri = "https://gw.example.com/zalooa/default/oauth"
            cli_machine(fake, cluster_section, tmp_path, monkeypatch)
            send = ["message", "send", "--channel", "zalooa", "--target", "42", "-m", "one-off"]
            code = await cli(*send, "--direct")
            err = capsys.readouterr().err
    assert code == 0, err
    assert fake.sent[-1].text == "one-off"
    assert fake.calls[-1].headers["access_token"] == current
    assert fake.refresh_calls == 1  # the CLI neither refreshed nor burned the grant
