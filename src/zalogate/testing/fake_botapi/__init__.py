"""``FakeZaloBotApi``: a real HTTP server on 127.0.0.1 that behaves like the Zalo Bot API.

It speaks the same envelope and payloads as Zalo (``zalo-bot-api.md`` §1-3), so a client,
a channel or a whole gateway can be tested over loopback HTTP::

    async with FakeZaloBotApi() as fake:
        bot = ZaloBot(fake.token, base_url=fake.base_url)
        fake.user("u1", name="An").says("xin chào")
        update = await bot.get_updates(timeout=1)
        await bot.send_message(update.message.chat.id, "chào An")
        [sent] = await fake.wait_for_sent(count=1, chat_id="u1")

Behaviour, and where it comes from:

* ``POST /bot<TOKEN>/<method>``; an unknown token gets HTTP 200
  ``{"ok": false, "error_code": 401, "description": "Unauthorized"}``; an unknown method
  HTTP 200 with ``error_code`` 404 [field]. Validation errors are HTTP 200 with
  ``error_code`` 400 (``"Bad request: The chat_id must not be empty"`` is verbatim from Zalo; the
  other descriptions are the fake's own wording).
* ``getUpdates {"timeout": "<n>"}`` returns ONE update, holds the poll up to ``n`` seconds
  (capped at ``max_poll_timeout``) and wakes as soon as an update arrives. An empty poll answers
  like Zalo in the field: HTTP 408 ``{"ok": false, "error_code": 408, "description":
  "Request timeout"}`` by default; ``empty_poll="body408"`` answers the same body with HTTP 200,
  ``"empty-result"`` answers ``{"ok": true, "result": {}}``.
* While a webhook is set, updates go to the webhook and ``getUpdates`` gets nothing
  (the reference: "getUpdates silently returns nothing"); ``poll_while_webhook="conflict"``
  instead refuses it with HTTP 200 ``error_code`` 409.
* Webhook delivery: each update is POSTed as JSON with ``X-Bot-Api-Secret-Token`` (to
  ``deliver_webhooks_to`` + the registered URL's path when that is set); a non-200
  answer or a connection failure is retried after each of ``webhook_retry_delays`` (default
  0.05 s, 0.2 s, 1 s: Zalo's own retry schedule is not documented), then the update is given up
  and listed in ``webhook_failures``. ``webhook_concurrency`` deliveries run at once per bot.
* ``getWebhookInfo`` without a webhook answers HTTP 404 ``Not Found`` [field]. ``setWebhook``
  wants an HTTPS URL (plain HTTP is accepted for loopback hosts, so tests can receive) and an
  8-256 character secret.
* ``GET /media/<name>`` serves a small generated PNG (or bytes given to ``add_media``), so that
  inbound images can be fetched on loopback.

Faults: ``fail_next`` (HTTP error; 429/502/503/504 come as nginx HTML pages), ``error_next``
(``ok: false`` with HTTP 200), ``timeout_next`` (hold the request until the client gives up) and
``drop_next`` (close the connection without an answer); ``drop_after_next`` and
``hold_after_next`` carry the call out first (a send is recorded) and then drop or hold the
answer: the ambiguous failures where Zalo has the message but the client cannot know.

The server runs in the current event loop (``async with`` / ``start()``) or in a thread of its
own (``with`` / ``start_in_thread()``) for synchronous callers; scripted users and fault
methods may be called from any thread.
"""

from __future__ import annotations

from zalogate.testing.fake_botapi.actors import FakeBot, FakeGroup, FakeUser
from zalogate.testing.fake_botapi.models import (
    ApiCall,
    SentRecord,
    WebhookFailure,
    make_png,
)
from zalogate.testing.fake_botapi.server import FakeZaloBotApi

__all__ = [
    "ApiCall",
    "FakeBot",
    "FakeGroup",
    "FakeUser",
    "FakeZaloBotApi",
    "SentRecord",
    "WebhookFailure",
    "make_png",
]
