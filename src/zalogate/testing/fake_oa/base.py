"""The state and set-up of ``FakeZaloOA`` that its route mixins share."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable, Iterable
from typing import Any

from zalogate.testing.fake_oa.state import (
    ApiCall,
    Code,
    Delivery,
    Grant,
    OAUser,
    RefusalError,
    SentMessage,
    SignatureVariant,
    Upload,
)
from zalogate.testing.http_server import HttpServer

__all__ = ["FakeOABase"]

_VIETNAM = datetime.timezone(datetime.timedelta(hours=7))


class FakeOABase:
    """Everything ``FakeZaloOA`` remembers; the mixins add the routes."""

    def __init__(
        self,
        *,
        app_id: str = "1234567890123456789",
        secret_key: str = "APP_SECRET_EXAMPLE",  # noqa: S107 - a fake's example
        oa_secret_key: str = "OA_SECRET_EXAMPLE",  # noqa: S107 - a fake's example
        oa_id: str = "388613280878808645",
        oa_name: str = "Fake OA",
        redirect_uri: str = "http://127.0.0.1/zalooa/oauth",
        access_ttl: float = 90000.0,
        signature_variant: SignatureVariant = "mac=app_id",
        night_rule: bool = False,
        rate_limit: int | None = None,
        quota: int | None = None,
        webhook_url: str | None = None,
        webhook_retry_delays: Iterable[float] = (0.05, 0.2),
        webhook_timeout: float = 5.0,
        echo_sends: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self.secret_key = secret_key
        self.oa_secret_key = oa_secret_key
        self.oa_id = oa_id
        self.oa_name = oa_name
        self.redirect_uri = redirect_uri
        self.access_ttl = access_ttl
        self.signature_variant: SignatureVariant = signature_variant
        self.night_rule = night_rule
        self.rate_limit = rate_limit
        self.quota = quota
        self.webhook_url = webhook_url
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.webhook_timeout = webhook_timeout
        self.echo_sends = echo_sends
        self.clock = clock
        self.grant = Grant()
        self.refuse_refresh: int | None = None
        """Set to an error code to refuse every refresh (``-14014`` by default when burned)."""
        self.refresh_calls = 0
        self.revoke_on_refresh = True
        """A refresh revokes the access token issued with the refresh token it used. Whether
        Zalo does is not documented (zalo-oa.md §1.4): the strict assumption, so that a node
        still sending with the old token shows."""
        self.users: dict[str, OAUser] = {}
        self.sent: list[SentMessage] = []
        self.reactions: list[tuple[str, str, str]] = []
        """``(user_id, message_id, icon)`` of each reaction."""
        self.uploads: dict[str, Upload] = {}
        self.history: list[dict[str, Any]] = []
        """``listrecentchat`` rows, oldest first."""
        self.messages_by_id: dict[str, str] = {}
        """Message id → the user of its conversation."""
        self.calls: list[ApiCall] = []
        self.deliveries: list[Delivery] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        """Files served at ``/media/<name>`` (Zalo's CDN for inbound attachments)."""
        self._codes: dict[str, Code] = {}
        self._faults: dict[str, list[RefusalError]] = {}
        self._call_times: list[float] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sent_signal = asyncio.Event()
        self._listener: HttpServer | None = None
        self._base_url = ""

    # ----------------------------------------------------------------- set-up

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the OAuth and the OpenAPI host."""
        if not self._base_url:
            raise RuntimeError("FakeZaloOA is not started")
        return self._base_url

    def channel_section(self) -> dict[str, Any]:
        """The keys of a ``channels.zalooa`` section that point the channel at this fake."""
        return {
            "appId": self.app_id,
            "secretKey": self.secret_key,
            "oaSecretKey": self.oa_secret_key,
            "oaId": self.oa_id,
            "apiUrl": self.base_url,
            "oauthUrl": self.base_url,
        }

    def user(
        self, user_id: str, name: str = "User", *, follower: bool = True, interacted: bool = True
    ) -> OAUser:
        """Add (or get) a user; ``interacted`` puts their last interaction now."""
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = OAUser(user_id, name, follower)
            if interacted:
                user.last_interaction = self.clock()
        return user

    def add_media(self, name: str, content: bytes, content_type: str = "image/png") -> str:
        """Serve ``content`` as an inbound attachment; its URL."""
        self.media[name] = (content, content_type)
        return f"{self.base_url}/media/{name}"

    def grant_pair(self) -> dict[str, str]:
        """Issue a token pair directly (what the API Explorer mints for an admin)."""
        return self.issue_pair()

    def fail_next(self, path: str, error: int, message: str = "", *, status: int = 200) -> None:
        """Answer the next call to ``path`` with ``error`` (after the token check)."""
        self._faults.setdefault(path, []).append(
            RefusalError(error, message or f"error {error}", status=status)
        )

    def take_fault(self, path: str) -> RefusalError | None:
        """The next injected fault for ``path``, if any."""
        queue = self._faults.get(path)
        return queue.pop(0) if queue else None

    def local_hour(self) -> int:
        """The hour in Vietnam (UTC+7) on the fake's clock."""
        return datetime.datetime.fromtimestamp(self.clock(), _VIETNAM).hour

    def ddmmyyyy(self, at: float) -> str:
        """``at`` as Zalo's ``DD/MM/YYYY`` (Vietnam time)."""
        return datetime.datetime.fromtimestamp(at, _VIETNAM).strftime("%d/%m/%Y")

    async def wait_for_sent(self, count: int = 1, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109 - test-helper signature
        """Wait until at least ``count`` messages were sent; returns them all."""
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self._sent_signal.clear()
                await self._sent_signal.wait()
        return list(self.sent)

    def issue_pair(self) -> dict[str, str]:
        """A new token pair (defined by the OAuth routes)."""
        raise NotImplementedError

    def echo(self, sent: SentMessage) -> None:
        """Deliver the echo of a sent message (defined by the webhook delivery)."""
        raise NotImplementedError
