"""The gateway runs on uvloop or asyncio's own loop, as ZALOGATE_EVENT_LOOP says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest

import zalogate.runtime.eventloop as eventloop
from zalogate.agents import EchoAgent
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import reset_logging


async def _serve_once(state_dir: Path) -> tuple[str, dict[str, Any]]:
    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=state_dir,
        channels=[],
        agent=EchoAgent(),
        configure_logs=False,
    )
    async with gateway, httpx2.AsyncClient(base_url=gateway.url, timeout=5) as client:
        body = (await client.get("/healthz")).json()
    return type(asyncio.get_running_loop()).__module__, body


@pytest.mark.parametrize(
    ("choice", "module_prefix"), [("asyncio", "asyncio"), ("uvloop", "uvloop")]
)
def test_gateway_serves_healthz_on_each_loop(
    tmp_path: Path, choice: str, module_prefix: str
) -> None:
    if choice == "uvloop":
        pytest.importorskip("uvloop")
    try:
        module, body = eventloop.run(
            _serve_once(tmp_path / "state"), env={eventloop.EVENT_LOOP_ENV: choice}
        )
    finally:
        reset_logging()
    assert module.startswith(module_prefix)
    assert body["ok"] is True


def test_auto_prefers_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert eventloop.resolve_event_loop({}) == "uvloop"
    assert eventloop.resolve_event_loop({eventloop.EVENT_LOOP_ENV: " Auto "}) == "uvloop"
    assert eventloop.resolve_event_loop({eventloop.EVENT_LOOP_ENV: "asyncio"}) == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eventloop, "_uvloop_factory", lambda: None)
    assert eventloop.resolve_event_loop({}) == "asyncio"
    assert eventloop.loop_factory({}) is None
    with pytest.raises(ValueError, match="uvloop is not installed"):
        eventloop.resolve_event_loop({eventloop.EVENT_LOOP_ENV: "uvloop"})


def test_an_unknown_value_names_the_variable_and_the_choices() -> None:
    async def never() -> None:
        raise AssertionError("must not run")

    with pytest.raises(ValueError, match=r"ZALOGATE_EVENT_LOOP: expected one of auto, asyncio"):
        eventloop.run(never(), env={eventloop.EVENT_LOOP_ENV: "trio"})
