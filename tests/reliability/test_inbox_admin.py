"""Outages are waited out: a failing message retries for ``max_age``, then is a dead letter
that ``zalogate inbox`` lists, shows, requeues and prunes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.cli.app import main
from zalogate.core.errors import DeliveryError, NonRetryableError
from zalogate.core.inbox_admin import (
    dead_letter_count,
    get_entry,
    list_entries,
    prune_entries,
    requeue_entries,
)
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.model import ChatType, InboundMessage
from zalogate.store import Store


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


FAST = BackoffConfig(min_delay=0.01, max_delay=0.02, jitter=0.1)


def message(n: int, text: str = "hello") -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=f"u{n}",
        sender_id=f"u{n}",
        message_id=f"m{n}",
        timestamp_ms=n,
        text=f"{text} {n}",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


async def test_an_outage_is_retried_until_max_age_then_dead_then_retried_by_hand(
    store: Store,
) -> None:
    outage = True
    attempts: list[str] = []
    answered: list[str] = []

    async def handler(msg: InboundMessage) -> None:
        attempts.append(msg.message_id)
        if outage:
            raise DeliveryError("Zalo unreachable", retryable=True)
        answered.append(msg.message_id)

    inbox = Inbox(store, handler, config=InboxConfig(max_age=0.3, backoff=FAST))
    async with inbox:
        await inbox.admit(message(1))
        await inbox.admit(message(2))
        await asyncio.wait_for(inbox.wait_idle(), 10)
        assert attempts.count("m1") > 3, "a transient failure is retried within max_age"
        assert await dead_letter_count(store) == 2
        dead = await list_entries(store, state="dead")
        assert {e.message_id for e in dead} == {"m1", "m2"}
        assert dead[0].text_preview is not None
        assert dead[0].text_preview.startswith("hello")
        assert dead[0].last_error is not None
        assert "unreachable" in dead[0].last_error
        outage = False
        assert await inbox.retry([dead[0].id]) == 1
        await asyncio.wait_for(inbox.wait_idle(), 10)
        assert answered == [dead[0].message_id]
        assert await inbox.retry(all_dead=True) == 1
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert sorted(answered) == ["m1", "m2"]
    assert await dead_letter_count(store) == 0
    assert inbox.counters.requeued == 2
    assert {e.state for e in await list_entries(store)} == {"done"}


async def test_a_fatal_error_fails_at_once_and_is_not_counted_as_dead(store: Store) -> None:
    async def handler(msg: InboundMessage) -> None:
        raise NonRetryableError("no such account")

    inbox = Inbox(store, handler, config=InboxConfig(backoff=FAST))
    async with inbox:
        admission = await inbox.admit(message(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    entry = await get_entry(store, admission.entry_id)
    assert entry is not None
    assert entry.state == "failed"
    assert entry.attempts == 1
    assert await dead_letter_count(store) == 0
    assert inbox.counters.failed == 1
    # Without a running inbox a requeue waits for the next start.
    assert await requeue_entries(store, [admission.entry_id]) == 1
    entry = await get_entry(store, admission.entry_id)
    assert entry is not None
    assert entry.state == "pending"


async def test_prune_removes_finished_rows_only(store: Store) -> None:
    async def handler(msg: InboundMessage) -> None:
        return None

    inbox = Inbox(store, handler, config=InboxConfig(backoff=FAST))
    async with inbox:
        await inbox.admit(message(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    await Inbox(store, handler).admit(message(2))  # stays pending: never started
    assert await prune_entries(store, int(time.time() * 1000) + 1000) == 1
    assert [e.message_id for e in await list_entries(store)] == ["m2"]


def test_inbox_cli_lists_shows_retries_and_prunes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.delenv("ZALO_BOT_TOKEN", raising=False)

    async def seed() -> None:
        async def handler(msg: InboundMessage) -> None:
            raise DeliveryError("HTTP 502", retryable=True)

        async with await Store.open(state) as store:
            inbox = Inbox(store, handler, config=InboxConfig(max_age=0.05, backoff=FAST))
            async with inbox:
                await inbox.admit(message(7, "ciao"))
                await asyncio.wait_for(inbox.wait_idle(), 10)

    asyncio.run(seed())
    assert run_cli(["inbox", "list", "--state", "dead", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["entries"]
    assert entry["state"] == "dead"
    assert entry["textPreview"] == "ciao 7"
    assert run_cli(["inbox", "show", str(entry["id"])]) == 0
    assert "HTTP 502" in capsys.readouterr().out
    assert run_cli(["inbox", "list", "--state", "nope"]) != 0
    assert "--state 'nope' is not a state" in capsys.readouterr().err
    assert run_cli(["inbox", "retry", "--all-dead"]) == 0
    assert "Requeued 1 message(s); the gateway processes them at the next start" in (
        capsys.readouterr().out
    )
    assert run_cli(["inbox", "prune", "--older-than", "soon"]) != 0
    assert "write it like 7d" in capsys.readouterr().err
    assert run_cli(["inbox", "prune", "--older-than", "7d"]) == 0
    assert "Pruned 0 inbox message(s)" in capsys.readouterr().out
