"""A zalo webhook path may not take a route the gateway's HTTP server keeps for itself."""

from __future__ import annotations

from typing import Any

import pytest

from zalogate.config import ConfigError, parse_config
from zalogate.runtime.control import CONTROL_PREFIX
from zalogate.runtime.endpoint import HEALTH_PATH

SECRET = "webhook-secret-1"


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env={}, plugin_ids=[])
    return caught.value.problems


def zalo(**settings: Any) -> dict[str, Any]:
    return {"channels": {"zalo": {"botToken": "1:x", "webhookSecret": SECRET, **settings}}}


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/control", "control endpoint"),
        ("/control/accounts", "control endpoint"),
        ("/control/", "control endpoint"),
        ("/healthz", "health check"),
    ],
)
def test_a_reserved_webhook_path_is_a_config_error_naming_the_key(path: str, what: str) -> None:
    problems = problems_of(zalo(webhookUrl="https://x.example/hook", webhookPath=path))
    assert problems == [
        f"channels.zalo.webhookPath: the webhook path {path!r} is reserved for the gateway's"
        f" {what} (choose another path)"
    ]


def test_a_path_derived_from_the_url_is_reported_at_webhook_url() -> None:
    problems = problems_of(zalo(webhookUrl="https://x.example/control/hook"))
    assert problems == [
        "channels.zalo.webhookUrl: the webhook path '/control/hook' is reserved for the"
        " gateway's control endpoint (choose another path)"
    ]


def test_an_account_path_is_reported_at_the_account() -> None:
    data = zalo(accounts={"shop": {"webhookUrl": "https://x.example/h", "webhookPath": "/control"}})
    assert problems_of(data) == [
        "channels.zalo.accounts.shop.webhookPath: the webhook path '/control' is reserved for"
        " the gateway's control endpoint (choose another path)"
    ]


@pytest.mark.parametrize("path", ["/controls", "/hook/control", "/healthzz", "/"])
def test_paths_that_only_look_alike_are_fine(path: str) -> None:
    parse_config(zalo(webhookUrl="https://x.example/hook", webhookPath=path), env={}, plugin_ids=[])


def test_the_config_reserves_what_the_server_reserves() -> None:
    from zalogate.config.rules import _RESERVED_ROUTES

    assert set(_RESERVED_ROUTES) == {HEALTH_PATH, CONTROL_PREFIX}
