"""Polling mode: remove a stale webhook, then long-poll ``getUpdates`` one update at a time.

Start-up (``zalo-bot-api.md`` §3): ``getWebhookInfo``; a set webhook is deleted first
(``getUpdates`` silently returns nothing while one is set); a 404 means "no webhook"; any other
failure is logged and polling starts anyway.

Loop: one ``getUpdates`` in flight at a time. An empty poll (HTTP 408, ``error_code`` 408 as a
number or a string, ``ok: true`` without a result) polls again at once. An update is
normalised and admitted to the durable inbox, which processes it in its own lanes, so a slow
agent never holds up the next poll; the update is admitted before the next poll starts, so a
crash after the poll replays it exactly once. 401/403 raise
:class:`~zalogate.channels.zalo.errors.ZaloUnauthorizedError` (the runtime marks the account
unauthorised); other errors are logged and retried after a jittered backoff of 1 s to 30 s.
Setting ``stop`` ends the loop at once, also in the middle of a poll or a backoff pause,
without another request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.botapi import UnauthorizedError, Update, ZaloBot, ZaloBotError
from zalogate.botapi.models import WebhookInfo
from zalogate.channels.zalo.errors import ZaloUnauthorizedError
from zalogate.core.errors import describe_error

__all__ = ["PollingMonitor", "UpdateSink"]

log = logging.getLogger("zalogate.channels.zalo")

_T = TypeVar("_T")

UpdateSink = Callable[[dict[str, Any]], Awaitable[None]]
"""Normalises and admits one raw update (the channel's ``accept_update``)."""


class _StoppedError(Exception):
    pass


async def _until_stopped(stop: asyncio.Event, work: Awaitable[_T], *, grace: float = 0.0) -> _T:
    """``await work`` unless ``stop`` is set first (then cancel it and raise ``_StoppedError``);
    ``grace``: seconds ``work`` may still finish after ``stop`` while it runs."""
    task = asyncio.ensure_future(work)
    if stop.is_set():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise _StoppedError
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if not task.done() and grace > 0:
        await asyncio.wait({task}, timeout=grace)
    if task.done():
        # A finished poll is used even if stop came at the same moment: the update was consumed.
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise _StoppedError


class PollingMonitor:
    """The ``getUpdates`` loop of one account.

    Args:
        bot: The account's client.
        account_id: For log lines.
        sink: Normalises and admits one raw update; it may raise (the update is then retried
            with backoff before the next poll).
        poll_timeout: Seconds Zalo may hold a poll.
        backoff: Delays after a failed poll.
        health: Told each failed poll's error, and None once a poll works again (the
            account shows ``degraded`` meanwhile).
    """

    def __init__(
        self,
        bot: ZaloBot,
        account_id: str,
        sink: UpdateSink,
        *,
        poll_timeout: int = 30,
        backoff: BackoffConfig | None = None,
        health: Callable[[str | None], None] | None = None,
    ) -> None:
        self.bot = bot
        self.account_id = account_id
        self.sink = sink
        self.poll_timeout = poll_timeout
        self.backoff = Backoff(backoff or BackoffConfig(min_delay=1.0, max_delay=30.0))
        self.health = health
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        """Clear a stale webhook, then poll until ``stop`` is set."""
        try:
            await self._clear_webhook(stop)
            while not stop.is_set():
                await self._poll_once(stop)
        except _StoppedError:
            pass
        log.info("[%s] Zalo provider stopped mode=polling", self.account_id)

    async def _clear_webhook(self, stop: asyncio.Event) -> None:
        acct = self.account_id
        log.info("[%s] Zalo polling mode: clearing webhook before startup", acct)
        try:
            info: WebhookInfo = await _until_stopped(stop, self.bot.get_webhook_info())
            if not info.url:
                log.info("[%s] Zalo polling mode ready (no webhook configured)", acct)
                return
            log.info(
                "[%s] Zalo polling mode: disabling existing webhook %s", acct, _origin(info.url)
            )
            await _until_stopped(stop, self.bot.delete_webhook())
            log.info("[%s] Zalo polling mode ready (webhook disabled)", acct)
        except UnauthorizedError as exc:
            raise ZaloUnauthorizedError(f"[{acct}] Zalo refused the bot token: {exc}") from None
        except ZaloBotError as exc:
            log.error("[%s] Zalo polling startup could not clear webhook: %s", acct, exc)

    async def _poll_once(self, stop: asyncio.Event) -> None:
        try:
            # Zalo forgets an update once it answered the poll: a poll cut off by a stop
            # (a lease lost under load) while the answer travels would lose it, so an answer
            # coming within the grace is still taken and offered to the store.
            update: Update | None = await _until_stopped(
                stop, self.bot.get_updates(self.poll_timeout), grace=_POLL_GRACE
            )
        except UnauthorizedError as exc:
            raise ZaloUnauthorizedError(
                f"[{self.account_id}] Zalo refused the bot token: {exc}"
            ) from None
        except ZaloBotError as exc:
            log.warning("[%s] Zalo polling error: %s", self.account_id, exc)
            self._failing = True
            if self.health is not None:
                self.health(f"polling: {exc}")
            if await self.backoff.sleep(stop):
                raise _StoppedError from None
            return
        self.backoff.reset()
        if self._failing:
            self._failing = False
            if self.health is not None:
                self.health(None)
        if update is None:
            return  # an empty poll: poll again at once
        await self._deliver(update.to_wire(), stop)

    async def _deliver(self, raw: dict[str, Any], stop: asyncio.Event) -> None:
        """Hand one consumed update to the sink; keep trying while the store refuses it."""
        retry = Backoff(BackoffConfig(min_delay=0.1, max_delay=5.0))
        deadline: float | None = None
        while True:
            try:
                await self.sink(raw)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Zalo will not send this update again: never drop it while we run, and keep
                # it a while after a stop (a lease lost while the store elects a leader; the
                # store drops a second copy, and no other poller was handed this update).
                log.error(
                    "[%s] Zalo update could not be admitted, retrying: %s",
                    self.account_id,
                    describe_error(exc),
                )
                loop = asyncio.get_running_loop()
                if deadline is None and await retry.sleep(stop):
                    deadline = loop.time() + _ADMIT_GRACE
                elif deadline is not None:
                    if loop.time() >= deadline:
                        log.error(
                            "[%s] Zalo update lost at shutdown (not admitted)", self.account_id
                        )
                        return
                    await asyncio.sleep(retry.next_delay())


_POLL_GRACE = 2.0
"""Seconds a ``getUpdates`` under way may still answer after the poller was stopped."""

_ADMIT_GRACE = 30.0
"""Seconds an update in hand is still offered to the store after the poller was stopped."""


def _origin(url: str) -> str:
    """``scheme://host/path`` of a webhook URL, without a query (it may carry secrets)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
