"""The send governor's counters reach ``/metrics`` through ``Channel.account_counters``."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from zalogate.sandbox.session import Sandbox


@pytest.mark.timeout(60)
async def test_a_reply_shows_in_the_governor_series(tmp_path: Path) -> None:
    config = {"channels": {"zalouser": {"dmPolicy": "open", "allowFrom": ["*"]}}}
    async with Sandbox("zalouser", user_config=config, state_dir=tmp_path / "state") as sandbox:
        await sandbox.say("hello")
        reply = await sandbox.next_reply(timeout=15)
        assert reply is not None
        async with httpx2.AsyncClient(base_url=sandbox.gateway.url) as http:
            text = (await http.get("/metrics")).text
    samples = {
        (s.name, s.labels.get("channel"), s.labels.get("account")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("zalogate_channel_send_sent_total", "zalouser", "default")] >= 1
    assert samples[("zalogate_channel_send_paused_seconds", "zalouser", "default")] == 0
    assert ("zalogate_channel_send_strangers_today", "zalouser", "default") in samples
