"""No poison input: any webhook body is journalled (invalid Unicode made safe at the edge) or
refused with a 4xx; never a 5xx, which would make Zalo redeliver it forever.

A real gateway (webhook mode, real SQLite inbox, echo agent) runs on its own thread; the
bodies come from hypothesis: updates whose strings hold lone surrogates and any other code
points, arbitrary JSON, deep nesting, UTF-16/32 and invalid UTF-8 encodings.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zalogate.channels.zalo.channel import ZaloChannelOptions, plugin_with_options
from zalogate.channels.zalo.webhook import WebhookOptions
from zalogate.config import parse_config
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.testing.fake_botapi import FakeZaloBotApi

PATH = "/hooks/zalo"
SECRET = "poison-secret-123"
HEADERS = {"X-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


class Running:
    def __init__(self, url: str, db: Path) -> None:
        self.url = url
        self.db = db
        self.client = httpx2.Client(timeout=10, trust_env=False)

    def post(self, body: bytes) -> int:
        return self.client.post(self.url + PATH, content=body, headers=HEADERS).status_code

    def journalled(self, message_id: str) -> bool:
        with sqlite3.connect(self.db) as conn:
            row = conn.execute(
                "SELECT 1 FROM inbox_entries WHERE message_id = ?", (message_id,)
            ).fetchone()
        return row is not None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state = tmp_path_factory.mktemp("poison")
    with FakeZaloBotApi() as fake:
        fake.deliver_webhooks_to = "http://127.0.0.1:1"  # never used: the test posts itself
        config = {
            "channels": {
                "zalo": {
                    "botToken": fake.token,
                    "apiBaseUrl": fake.base_url,
                    "webhookUrl": "https://example.com" + PATH,
                    "webhookSecret": SECRET,
                    "dmPolicy": "open",
                    "allowFrom": ["*"],
                }
            }
        }
        options = ZaloChannelOptions(env={}, webhook=WebhookOptions(rate_limit=1_000_000))
        ready: list[str] = []
        stop = threading.Event()
        loop_box: list[asyncio.AbstractEventLoop] = []
        stopper: list[asyncio.Event] = []

        async def main() -> None:
            gw = Gateway(
                parse_config(config, env={}),
                state_dir=state,
                channels=[plugin_with_options(options)],
                http_port=0,
                console_log=False,
                handle_signals=False,
            )
            done = asyncio.Event()
            stopper.append(done)
            loop_box.append(asyncio.get_running_loop())
            async with gw:
                while PATH not in gw.http.mounted():
                    await asyncio.sleep(0.01)
                ready.append(gw.url)
                await done.wait()

        thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        thread.start()
        while not ready and thread.is_alive():
            stop.wait(0.02)
        assert ready, "the gateway did not start"
        running = Running(ready[0], state / "zalogate.db")
        try:
            yield running
        finally:
            running.client.close()
            loop_box[0].call_soon_threadsafe(stopper[0].set)
            thread.join(20)
            reset_logging()
            clear_registered_secrets()


def update(message_id: str, text: str, sender: str = "u1", name: str = "An") -> dict[str, Any]:
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": sender, "display_name": name},
            "chat": {"id": sender, "chat_type": "PRIVATE"},
            "message_id": message_id,
            "date": 1774080000000,
            "text": text,
        },
    }


ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SURROGATES = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)


def test_a_lone_surrogate_is_journalled_not_a_500(gateway: Running) -> None:
    body = json.dumps(update("lone-1", "a\ud800b")).encode()  # ensure_ascii: "a\\ud800b"
    assert gateway.post(body) == 200
    assert gateway.journalled("lone-1")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=ANY_TEXT | SURROGATES,
    name=ANY_TEXT | SURROGATES,
    message_id=st.uuids().map(str),
    ascii_only=st.booleans(),
)
def test_updates_with_any_strings_are_journalled(
    gateway: Running, text: str, name: str, message_id: str, ascii_only: bool
) -> None:
    data = update(message_id, text, name=name)
    try:
        body = json.dumps(data, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:  # a raw surrogate has no UTF-8 form: send it escaped
        body = json.dumps(data).encode()
    status = gateway.post(body)
    assert status == 200
    if text.strip():  # a blank text is acknowledged and ignored (nothing to answer)
        assert gateway.journalled(message_id)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=JSON, wrap=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_any_json_body_is_answered_2xx_or_4xx(
    gateway: Running, payload: Any, wrap: bool, encoding: str
) -> None:
    if wrap:
        payload = {"message": {"message_id": payload, "chat": {"id": payload}, "text": payload}}
    text = json.dumps(payload)
    status = gateway.post(text.encode(encoding, "surrogatepass"))
    assert status < 500


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"message": ' * 5000 + b"1" + b"}" * 5000,
        b'{"message": {"message_id": "x\xff\xfe", "chat": {"id": "c"}}}',
        b"\xef\xbb\xbf" + json.dumps(update("bom-1", "hi")).encode(),
        json.dumps(update("nul-1", "a\x00b")).encode(),
    ],
    ids=["deep-list", "deep-object", "invalid-utf8", "bom", "nul"],
)
def test_odd_bodies_are_never_a_5xx(gateway: Running, body: bytes) -> None:
    assert gateway.post(body) < 500
