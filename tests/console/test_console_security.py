"""Who may use the console and /metrics: every route without a session, with a forged
Origin, without the CSRF token, and from a non-loopback address; the one-time link, the
cookie flags, the operator password; /metrics parsed as Prometheus text."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from zalogate.channels.zalouser.governor import SendGovernor, SendLimits
from zalogate.config import parse_config
from zalogate.console import login_link
from zalogate.console.auth import LINK_TTL_S, ConsoleAuth, Session
from zalogate.runtime.control import read_token_file
from zalogate.runtime.gateway import Gateway

LOCAL = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.7", 40000)
PASSWORD = "correct horse battery staple"


def gateway_for(tmp_path: Path, *, password: str | None = None) -> Gateway:
    data: dict[str, Any] = {}
    if password is not None:
        data = {"gateway": {"console": {"password": password}}}
    config = parse_config(data, env={})
    return Gateway(
        config,
        state_dir=tmp_path / "state",
        channels=[],
        http_port=0,
        configure_logs=False,
        shutdown_timeout=2.0,
    )


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with gateway_for(tmp_path) as gw:
        yield gw


def client(gateway: Gateway, address: tuple[str, int] = LOCAL) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=gateway.http.app, client=address)
    return httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:18789")


def link_of(gateway: Gateway) -> str:
    """A login link the gateway accepts (in a cluster: signed with the cluster's key)."""
    token = gateway.cluster.link_key if gateway.cluster else read_token_file(gateway.state_dir)
    assert token
    return login_link("http://127.0.0.1:18789", token)


async def logged_in(gateway: Gateway) -> tuple[httpx2.AsyncClient, str]:
    browser = client(gateway)
    response = await browser.get(link_of(gateway))
    assert response.status_code == 303
    page = await browser.get("/console/", headers={"Accept": "text/html"})
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found
    return browser, found.group(1)


def console_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """(method, concrete path) of every console route."""
    metrics = gateway.metrics
    assert metrics is not None
    apps = [a for p, a in gateway.http._router._mounts.items() if p == "/console"]
    assert apps, "the console is mounted"
    found: list[tuple[str, str]] = []
    for route in apps[0].routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "x", route.path).replace("/x:path", "/x")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


OPEN_ROUTES = {("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/console/static/x")}


async def test_every_console_route_refuses_a_request_without_a_session(gateway: Gateway) -> None:
    routes = console_routes(gateway)
    assert len(routes) > 20
    async with client(gateway) as anonymous:
        for method, path in routes:
            if (method, path) in OPEN_ROUTES:
                continue
            response = await anonymous.request(method, path, headers={"Accept": "text/html"})
            if method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"] == "/console/login"
            else:
                assert response.status_code == 401, (method, path)
            assert "set-cookie" not in response.headers


async def test_state_changing_requests_need_the_origin_and_the_csrf_token(
    gateway: Gateway,
) -> None:
    browser, csrf = await logged_in(gateway)
    try:
        posts = [p for m, p in console_routes(gateway) if m == "POST" and p != "/console/login"]
        assert posts
        for path in posts:
            forged = {"Origin": "https://evil.example", "X-CSRF-Token": csrf}
            response = await browser.post(path, headers=forged)
            assert response.status_code == 403, path
            assert "cross-site" in response.text
            response = await browser.post(path, data={"csrf": "wrong"})
            assert response.status_code == 403, path
            response = await browser.post(path)
            assert response.status_code == 403, path
        # The same session with its token and its own origin is let through.
        ok = await browser.post(
            "/console/lang/en", data={"csrf": csrf}, headers={"Origin": "http://127.0.0.1:18789"}
        )
        assert ok.status_code == 303
    finally:
        await browser.aclose()


async def test_every_route_refuses_a_non_loopback_client_without_a_password(
    gateway: Gateway,
) -> None:
    browser, csrf = await logged_in(gateway)
    await browser.aclose()
    routes = [*console_routes(gateway), ("GET", "/metrics")]
    async with client(gateway, REMOTE) as remote:
        for method, path in routes:
            response = await remote.request(method, path, data={"csrf": csrf})
            assert response.status_code == 403, (method, path)
            assert "loopback" in response.text
        response = await remote.get(link_of(gateway))
        assert response.status_code == 403
        assert "set-cookie" not in response.headers
    # A proxy on this machine that says it relays someone else is not loopback either.
    async with client(gateway) as proxied:
        response = await proxied.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"})
        assert response.status_code == 403


async def test_the_login_link_works_once_and_sets_a_strict_http_only_cookie(
    gateway: Gateway,
) -> None:
    link = link_of(gateway)
    async with client(gateway) as browser:
        first = await browser.get(link)
        assert first.status_code == 303
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        page = await browser.get("/console/")
        assert page.status_code == 200
        assert "zalogate" in page.text
    async with client(gateway) as other:
        again = await other.get(link)
        assert again.status_code == 403
        assert "đã được dùng" in again.text  # "already used" (the default language)
        assert "set-cookie" not in again.headers
        tampered = link.replace("s=", "s=0")
        assert (await other.get(tampered)).status_code == 403


async def test_a_link_expires_and_is_bound_to_the_key() -> None:
    now = 1_800_000_000.0
    clock = [now]
    auth = ConsoleAuth(lambda: "key-1", clock=lambda: clock[0])
    link = login_link("http://gw", "key-1", now=now)
    params = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    clock[0] = now + LINK_TTL_S + 1
    assert await auth.redeem(params["n"], params["e"], params["s"]) == "link_invalid"
    clock[0] = now
    other = ConsoleAuth(lambda: "key-2", clock=lambda: clock[0])
    assert await other.redeem(params["n"], params["e"], params["s"]) == "link_invalid"
    assert isinstance(await auth.redeem(params["n"], params["e"], params["s"]), Session)
    assert await auth.redeem(params["n"], params["e"], params["s"]) == "link_used"


async def test_with_a_password_remote_clients_sign_in_and_scrape(tmp_path: Path) -> None:
    async with (
        gateway_for(tmp_path, password=PASSWORD) as gateway,
        client(gateway, REMOTE) as remote,
    ):
        page = await remote.get("/console/", headers={"Accept": "text/html"})
        assert page.status_code == 303  # to the login page, which asks for the password
        login = await remote.get("/console/login")
        assert 'type="password"' in login.text
        wrong = await remote.post("/console/login", data={"password": "nope"})
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers
        assert (await remote.get("/metrics")).status_code == 401
        basic = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
        scraped = await remote.get("/metrics", headers={"Authorization": f"Basic {basic}"})
        assert scraped.status_code == 200
        right = await remote.post("/console/login", data={"password": PASSWORD})
        assert right.status_code == 303
        assert (await remote.get("/console/inbox")).status_code == 200


async def test_metrics_are_prometheus_text_with_zalogate_series(gateway: Gateway) -> None:
    async with client(gateway) as local:
        response = await local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "zalogate_messages_admitted",
        "zalogate_messages_processed",
        "zalogate_messages_sent",
        "zalogate_end_to_end_seconds",
        "zalogate_agent_seconds",
        "zalogate_inbox_depth",
        "zalogate_dead_letters",
        "zalogate_inbox_retried",
        "zalogate_pipeline_delivery_failures",
        "zalogate_account_state",
        "zalogate_account_restarts",
    ):
        assert name in families, name
    assert all(name.startswith("zalogate_") for name in families)
    token = read_token_file(gateway.state_dir)
    assert token
    assert token not in response.text


async def test_the_grafana_dashboard_uses_only_series_the_gateway_serves(
    gateway: Gateway,
) -> None:
    dashboard = Path(__file__).parents[2] / "docs" / "grafana-zalogate.json"
    used = set(re.findall(r"zalogate_[a-z_]+", dashboard.read_text(encoding="utf-8")))
    assert used
    async with client(gateway) as local:
        text = (await local.get("/metrics")).text
    families = {f.name for f in text_string_to_metric_families(text)}
    # A channel's own series appear once it runs (this gateway has none): the personal
    # account's send governor names them.
    governor = SendGovernor("a", SendLimits()).status()
    families |= {f"zalogate_channel_{counter.name}" for counter in governor.counters()}
    for name in used:
        assert name.removesuffix("_bucket").removesuffix("_total") in families, name
