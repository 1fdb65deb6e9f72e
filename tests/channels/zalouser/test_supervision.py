"""Supervision with the real gateway: a closed listener restarts its account, a duplicate
connection (close 3000) stops only that account, a missing or refused session is reported as
"needs QR login" and picked up once it exists, and no secret reaches a log line."""

from __future__ import annotations

import json
import logging
import stat

import pytest

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.personal import Credentials
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountState, AccountStatus

from .conftest import UA, RecordingAgent, World, eventually


def status_of(gateway: Gateway, account: str) -> AccountStatus:
    found = [s for s in gateway.status() if s.channel == "zalouser" and s.account == account]
    assert found, f"no status for {account}"
    return found[0]


def two_accounts(world: World) -> dict[str, object]:
    world.save_session(world.BOT, profile="default")
    world.save_session(world.BOT2, profile="second")
    return {
        "dmPolicy": "open",
        "allowFrom": ["*"],
        "accounts": {"default": {}, "second": {}},
    }


async def test_duplicate_connection_stops_only_that_account(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = world.config(**two_accounts(world))
    async with world.gateway(config) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.wait_for_listener(world.BOT2)
        await world.fake.duplicate_connection(world.BOT)
        await eventually(lambda: status_of(gateway, "default").state is AccountState.FAILED)
        record = status_of(gateway, "default")
        assert "Zalo Web" in (record.last_error or "")
        assert record.restarts == 0
        # The other account keeps working.
        await eventually(lambda: status_of(gateway, "second").state is AccountState.RUNNING)
        await world.fake.user(world.ALICE).says_to(world.BOT2, "still there?")
        reply = await world.sent(kind="text", thread_id=world.ALICE)
        assert reply.sender == world.BOT2
        assert world.fake.listener_count(world.BOT) == 0
    assert "opened in Zalo Web elsewhere" in caplog.text


@pytest.mark.parametrize("fault", ["drop", "kick"])
async def test_closed_listener_restarts_the_account(world: World, fault: str) -> None:
    world.save_session()
    opts = world.options(monitor=MonitorOptions(reconnect=False))
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, opts) as (gateway, channel):
        await world.fake.wait_for_listener(world.BOT)
        await getattr(world.fake, fault)(world.BOT)
        await eventually(lambda: status_of(gateway, "default").restarts >= 1)
        await eventually(
            lambda: (
                channel.listener_state("default").state == "connected"
                and world.fake.listener_count(world.BOT) == 1
            )
        )
        assert "listener closed" in (status_of(gateway, "default").last_error or "")
        await world.fake.user(world.ALICE).says_to(world.BOT, "after the restart")
        assert (await world.sent(kind="text", thread_id=world.ALICE)).text == "after the restart"


async def test_listener_reconnects_by_itself_on_an_abnormal_close(world: World) -> None:
    """With Zalo's own retry rules (default), a 1006 is retried inside the listener."""
    world.save_session()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config) as (gateway, channel):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.drop(world.BOT)
        await eventually(lambda: channel.listener_state("default").connections >= 2)
        assert status_of(gateway, "default").restarts == 0
        await world.fake.user(world.ALICE).says_to(world.BOT, "back")
        await world.sent(kind="text", thread_id=world.ALICE)


async def test_missing_session_needs_qr_login_and_is_picked_up_later(world: World) -> None:
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config) as (gateway, channel):
        await eventually(lambda: status_of(gateway, "default").state is AccountState.UNAUTHORIZED)
        error = status_of(gateway, "default").last_error or ""
        assert "needs QR login" in error
        assert "zalogate channels login --channel zalouser" in error
        probe = await channel.probe(channel.accounts()[0])
        assert not probe.ok
        assert "Not authenticated" in probe.detail
        world.save_session()
        await world.fake.wait_for_listener(world.BOT)
        await eventually(lambda: status_of(gateway, "default").state is AccountState.RUNNING)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hello")
        await world.sent(kind="text", thread_id=world.ALICE)


async def test_refused_session_is_reported_as_needing_login(world: World) -> None:
    data = world.fake.credentials(world.BOT, user_agent=UA, domain="127.0.0.1")
    for cookie in data["cookie"]:
        cookie["value"] = "expired-" + cookie["value"]
    CredentialStore(world.state_dir).save("default", Credentials.from_json(data))
    async with world.gateway(world.config()) as (gateway, _):
        await eventually(lambda: status_of(gateway, "default").state is AccountState.UNAUTHORIZED)
        assert "no longer accepts the saved session" in (
            status_of(gateway, "default").last_error or ""
        )


async def test_two_accounts_cannot_share_one_profile(world: World) -> None:
    world.save_session()
    config = world.config(
        dmPolicy="open",
        allowFrom=["*"],
        accounts={"default": {}, "copy": {"profile": "default"}},
    )
    async with world.gateway(config) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await eventually(lambda: status_of(gateway, "copy").state is AccountState.FAILED)
        assert "already used by account 'default'" in (status_of(gateway, "copy").last_error or "")
        # The listener is connected before the account reports RUNNING (after the key frame).
        await eventually(lambda: status_of(gateway, "default").state is AccountState.RUNNING)
        assert world.fake.listener_count(world.BOT) == 1


async def test_no_cookie_or_session_key_in_logs_and_credentials_stay_private(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = world.save_session()
    cookies = [c["value"] for c in json.loads(path.read_text())["cookies"]["cookies"]]
    agent = RecordingAgent()
    config = world.config(dmPolicy="open", allowFrom=["*"], groupPolicy="open")
    async with world.gateway(config, agent=agent) as (gateway, channel):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hello")
        await world.sent(kind="text", thread_id=world.ALICE)
        session = await channel.connection("default").session()
        secret_key = session.secret_key
        await world.fake.duplicate_connection(world.BOT)
        await eventually(lambda: status_of(gateway, "default").state is AccountState.FAILED)
        status_text = json.dumps([s.to_json() for s in gateway.status()])
        snapshot = json.dumps(channel.account_snapshot(channel.accounts()[0]))
        probe = await channel.probe(channel.accounts()[0])
    # Our own log lines (and httpx2's request lines); the websockets library's DEBUG header
    # dump is the runtime's redaction filter's job (and that logger is quietened there).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("zalogate", "httpx2"))
    )
    everything = "\n".join([ours, status_text, snapshot, repr(probe), repr(channel)])
    for secret in [*cookies, secret_key]:
        assert secret not in everything
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["lastUsedAt"]


async def test_refreshed_cookies_are_written_back_while_running(world: World) -> None:
    path = world.save_session()
    created = json.loads(path.read_text())["createdAt"]
    opts = world.options(monitor=MonitorOptions(refresh_s=0.05))
    async with world.gateway(world.config(), opts) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        client = await channel.connection("default").client()
        client.http.jar.set_cookie("zpsid=refreshed-value; Path=/", world.fake.base_url + "/")

        def written() -> bool:
            data = json.loads(path.read_text())
            return any(c["value"] == "refreshed-value" for c in data["cookies"]["cookies"])

        await eventually(written)
    data = json.loads(path.read_text())
    assert data["createdAt"] == created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
