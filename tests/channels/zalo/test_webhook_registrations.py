"""A webhook path registered twice for one account (a cluster node serving the account's
inbound routes and running it) stays mounted until both registrations left."""

from __future__ import annotations

from typing import Any

from zalogate.channels.zalo.webhook import WebhookRegistry, WebhookTarget


class Routes:
    def __init__(self) -> None:
        self.mounted: dict[str, Any] = {}

    def mount(self, path: str, app: Any, *, name: str | None = None) -> None:
        assert path not in self.mounted
        self.mounted[path] = app

    def unmount(self, path: str) -> None:
        del self.mounted[path]


async def _ignore(raw: dict[str, Any]) -> None:
    return None


def test_the_last_registration_of_an_account_unmounts_its_path() -> None:
    routes = Routes()
    registry = WebhookRegistry(routes)
    registry.register("/hooks/zalo", WebhookTarget("default", "secret-123", _ignore))
    registry.register("/hooks/zalo", WebhookTarget("default", "secret-123", _ignore))
    registry.unregister("/hooks/zalo", "default")
    endpoint = registry.endpoint("/hooks/zalo")
    assert endpoint is not None
    assert [t.account_id for t in endpoint.targets] == ["default"]
    registry.unregister("/hooks/zalo", "default")
    assert registry.endpoint("/hooks/zalo") is None
    assert routes.mounted == {}
