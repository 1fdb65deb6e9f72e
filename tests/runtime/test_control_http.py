"""The control endpoint on the gateway's real HTTP server: bearer token from gateway.token
(0600, removed on stop), 401/403/404/405, JSON answers, loopback only, the token never in a
log line, an error or /healthz, and the /control prefix reserved in the router."""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.runtime.control import (
    CONTROL_PREFIX,
    ControlError,
    account_action,
    bearer_matches,
    client_refusal,
    read_token_file,
    remove_token_file,
    token_path,
    write_token_file,
)
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.http import HttpServer, RouteConflictError
from zalogate.runtime.status import AccountState

from .test_account_control import FatalError, ScriptedChannel, is_running, make_gateway, until

RESTART_A = f"{CONTROL_PREFIX}/accounts/fake/a/restart"
STOP_A = f"{CONTROL_PREFIX}/accounts/fake/a/stop"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(gateway: Gateway) -> str:
    token = read_token_file(gateway.state_dir)
    assert token is not None
    return token


@pytest.fixture
def quiet_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.timeout(20)
async def test_token_file_is_private_and_removed_on_stop(tmp_path: Path, quiet_umask: None) -> None:
    channel = ScriptedChannel(["a"], {})
    gateway = make_gateway(tmp_path, channel)
    path = token_path(gateway.state_dir)
    async with gateway:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = token_of(gateway)
        assert len(token) >= 40
        leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".gateway.token")]
        assert leftovers == []  # the temporary file was renamed, not left behind
    assert not path.exists()


@pytest.mark.timeout(20)
async def test_each_start_makes_a_new_token(tmp_path: Path) -> None:
    tokens = []
    for _ in range(2):
        async with make_gateway(tmp_path, ScriptedChannel(["a"], {})) as gateway:
            tokens.append(token_of(gateway))
    assert tokens[0] != tokens[1]


@pytest.mark.timeout(20)
async def test_restart_and_stop_over_http(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a", "b"], {"a": [FatalError]})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(lambda: any(r.state is AccountState.FAILED for r in gateway.status()))
        await until(is_running(gateway, "b"))
        token = token_of(gateway)
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            response = await client.post(RESTART_A, headers=bearer(token))
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert body["ok"] is True
            assert body["action"] == "restart"
            assert body["account"]["channel"] == "fake"
            assert body["account"]["account"] == "a"
            assert body["account"]["state"] == "running"

            response = await client.post(
                STOP_A, headers=bearer(token), json={"reason": "stopped by channels logout"}
            )
            assert response.status_code == 200
            stopped = response.json()["account"]
            assert (stopped["state"], stopped["reason"]) == (
                "stopped",
                "stopped by channels logout",
            )

            health = (await client.get("/healthz")).json()
        by_account = {r["account"]: r for r in health["accounts"]}
        assert by_account["a"]["state"] == "stopped"
        assert by_account["a"]["reason"] == "stopped by channels logout"
        assert by_account["b"]["state"] == "running"
        assert channel.runs["b"] == 1
        assert token not in str(health)


@pytest.mark.timeout(20)
async def test_the_client_helper_talks_to_the_endpoint(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        result = await account_action(gateway.url, token, "fake", "a", "restart")
        # The endpoint waits only a little longer than the start-up grace; a busy host may
        # answer before the new run left ``starting``.
        assert (result.action, result.state in {"running", "starting"}) == ("restart", True)
        await until(is_running(gateway, "a"))
        with pytest.raises(ControlError) as refused:
            await account_action(gateway.url, "wrong-token", "fake", "a", "stop")
        assert refused.value.status_code == 401
        assert "refused the control token" in str(refused.value)
        with pytest.raises(ControlError) as unknown:
            await account_action(gateway.url, token, "fake", "zz", "stop")
        assert unknown.value.status_code == 404
        assert "no fake account 'zz'" in str(unknown.value)
        assert token not in str(unknown.value)
        url = gateway.url
    with pytest.raises(ControlError) as gone:
        await account_action(url, token, "fake", "a", "restart", timeout_s=2)
    assert gone.value.unreachable


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "basic", "empty"],
)
async def test_a_request_without_the_token_is_401(tmp_path: Path, headers: dict[str, str]) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            response = await client.post(STOP_A, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"ok": False, "error": "a valid bearer token is required"}
        assert channel.stopped["a"] == 0
        assert gateway.status()[0].state is AccountState.RUNNING


@pytest.mark.timeout(20)
async def test_unknown_accounts_actions_and_paths_are_404_other_methods_405(
    tmp_path: Path,
) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        token = token_of(gateway)
        async with httpx2.AsyncClient(base_url=gateway.url, headers=bearer(token)) as client:
            unknown = await client.post(f"{CONTROL_PREFIX}/accounts/fake/nobody/restart")
            assert unknown.status_code == 404
            assert "no fake account 'nobody'" in unknown.json()["error"]
            assert (await client.post(f"{CONTROL_PREFIX}/accounts/zalo/a/stop")).status_code == 404
            action = await client.post(f"{CONTROL_PREFIX}/accounts/fake/a/explode")
            assert action.status_code == 404
            assert "unknown action" in action.json()["error"]
            for path in (CONTROL_PREFIX, f"{CONTROL_PREFIX}/accounts", f"{CONTROL_PREFIX}/x"):
                assert (await client.post(path)).status_code == 404
            for method in ("GET", "PUT", "DELETE"):
                response = await client.request(method, RESTART_A)
                assert response.status_code == 405, method
                assert response.headers["allow"] == "POST"
                assert response.json()["ok"] is False
        assert channel.runs["a"] == 1


@pytest.mark.timeout(20)
async def test_a_non_loopback_client_or_a_proxied_request_is_403(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        remote = httpx2.ASGITransport(app=gateway.http.app, client=("203.0.113.7", 40000))
        async with httpx2.AsyncClient(transport=remote, base_url="http://gw") as client:
            response = await client.post(STOP_A, headers=bearer(token))
            assert response.status_code == 403
            assert response.json() == {
                "ok": False,
                "error": "the control endpoint answers loopback clients only",
            }
            assert (await client.get("/healthz")).status_code == 200  # only /control refuses
        local = httpx2.ASGITransport(app=gateway.http.app, client=("127.0.0.1", 40000))
        async with httpx2.AsyncClient(transport=local, base_url="http://gw") as client:
            proxied = {**bearer(token), "X-Forwarded-For": "198.51.100.1"}
            response = await client.post(STOP_A, headers=proxied)
            assert response.status_code == 403
            assert "proxy" in response.json()["error"]
            response = await client.post(STOP_A, headers=bearer(token))  # the same, direct
            assert response.status_code == 200
        assert channel.stopped["a"] == 1


@pytest.mark.parametrize(
    ("host", "headers", "allowed"),
    [
        ("127.0.0.1", {}, True),
        ("127.5.6.7", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("10.0.0.2", {}, False),
        ("192.168.1.5", {}, False),
        ("2001:db8::1", {}, False),
        ("::ffff:10.0.0.2", {}, False),
        (None, {}, False),
        ("", {}, False),
        ("not-an-address", {}, False),
        ("127.0.0.1", {"Forwarded": "for=198.51.100.1"}, False),
        ("127.0.0.1", {"x-real-ip": "198.51.100.1"}, False),
        ("::1", {"X-Forwarded-Host": "gw.example"}, False),
    ],
)
def test_client_refusal(host: str | None, headers: dict[str, str], allowed: bool) -> None:
    assert (client_refusal(host, headers) is None) is allowed


def test_bearer_matches() -> None:
    assert bearer_matches("Bearer abc", "abc")
    assert bearer_matches("bearer   abc ", "abc")
    assert not bearer_matches("Bearer abd", "abc")
    assert not bearer_matches("Bearer abc", "")
    assert not bearer_matches(None, "abc")
    assert not bearer_matches("abc", "abc")


@pytest.mark.timeout(20)
async def test_the_token_is_in_no_log_line_error_or_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = ScriptedChannel(["a"], {})
    gateway = make_gateway(tmp_path, channel, configure_logs=True, console_log=False)
    async with gateway:
        await until(is_running(gateway, "a"))
        token = token_of(gateway)
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            answers: list[Any] = [
                await client.post(RESTART_A, headers=bearer(token)),
                await client.post(STOP_A, headers=bearer(token + "x")),
                await client.post(f"{CONTROL_PREFIX}/accounts/fake/{token}/stop"),
                await client.post(
                    f"{CONTROL_PREFIX}/accounts/fake/{token}/stop", headers=bearer(token)
                ),
                await client.get("/healthz"),
            ]
        log_file = gateway.log_file
    texts = [a.text for a in answers]
    assert [a.status_code for a in answers] == [200, 401, 401, 404, 200]
    assert token not in texts[0] + texts[1] + texts[2] + texts[4]
    # The 404 names the account id it was given (here the token): redacted like any secret.
    assert token not in texts[3]
    assert "restart fake/a -> running" in caplog.text
    assert token not in caplog.text
    assert token not in log_file.read_text(encoding="utf-8")


@pytest.mark.timeout(20)
async def test_a_gateway_that_cannot_start_leaves_the_token_file_alone(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        state = tmp_path / "state"
        write_token_file(state, "token-of-the-running-gateway")
        gateway = make_gateway(tmp_path, ScriptedChannel(["a"], {}), http_port=port)
        with pytest.raises(OSError, match="cannot listen"):
            await gateway.start()
    assert read_token_file(state) == "token-of-the-running-gateway"


def test_remove_token_file_keeps_another_gateways_token(tmp_path: Path) -> None:
    write_token_file(tmp_path, "new-gateway")
    remove_token_file(tmp_path, "old-gateway")
    assert read_token_file(tmp_path) == "new-gateway"
    remove_token_file(tmp_path, "new-gateway")
    assert not token_path(tmp_path).exists()
    remove_token_file(tmp_path, "new-gateway")  # no file: nothing to do


def test_write_token_file_is_0600_whatever_the_umask(tmp_path: Path, quiet_umask: None) -> None:
    path = write_token_file(tmp_path / "fresh", "t0ken")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "t0ken\n"


def test_a_symlinked_token_file_is_not_read(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("planted")
    token_path(tmp_path).symlink_to(target)
    assert read_token_file(tmp_path) is None


# -- the router keeps /control for itself ----------------------------------------------------


async def text_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"mounted"})


@pytest.mark.parametrize("path", ["/control", "/control/", "/control/accounts", "control/x"])
def test_mounting_under_control_is_refused(path: str) -> None:
    server = HttpServer("127.0.0.1", 0)
    with pytest.raises(RouteConflictError, match="reserved for the gateway control endpoint"):
        server.mount(path, text_app)
    server.mount("/controls", text_app)  # a different path that only starts alike


@pytest.mark.timeout(20)
async def test_a_root_mount_never_receives_control_requests(tmp_path: Path) -> None:
    channel = ScriptedChannel(["a"], {})
    async with make_gateway(tmp_path, channel) as gateway:
        gateway.http.mount("/", text_app, name="root webhook")
        async with httpx2.AsyncClient(base_url=gateway.url) as client:
            assert (await client.post("/hook")).text == "mounted"
            response = await client.post(STOP_A, headers=bearer(token_of(gateway)))
            assert response.status_code == 200
            assert (await client.post(f"{CONTROL_PREFIX}/other")).status_code == 404
        assert response.json()["account"]["state"] == "stopped"


@pytest.mark.timeout(20)
async def test_a_plain_http_server_has_no_control_endpoint() -> None:
    async with HttpServer("127.0.0.1", 0) as server, httpx2.AsyncClient() as client:
        response = await client.post(server.url + RESTART_A, headers=bearer("anything"))
    assert response.status_code == 404
