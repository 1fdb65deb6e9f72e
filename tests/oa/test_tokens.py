"""Scenarios 5-9: single-use refresh tokens rotated one at a time, saved before use."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from zalogate.oa import (
    OAuthClient,
    ReauthorizationRequiredError,
    TokenFile,
    TokenKeeper,
    TokenPair,
    ZaloOA,
)
from zalogate.testing import FakeZaloOA

from .conftest import granted


async def test_twenty_concurrent_sends_at_expiry_cause_one_refresh(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    store = granted(fake, tmp_path, expires_in=60)  # inside the refresh margin
    old = store.load()
    assert old is not None
    keeper = TokenKeeper(oauth, store, oa_id=fake.oa_id)
    client = ZaloOA(keeper, api_url=fake.base_url)
    fake.user("2512523625412515")
    ids = await asyncio.gather(*(client.send_text("2512523625412515", f"m{i}") for i in range(20)))
    await client.aclose()
    assert len(set(ids)) == 20
    assert fake.refresh_calls == 1
    tokens = {c.headers["access_token"] for c in fake.calls if c.path == "/v3.0/oa/message/cs"}
    new = store.load()
    assert new is not None
    assert tokens == {new.access_token}
    assert new.access_token != old.access_token
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


async def test_two_refreshes_in_a_row_use_the_new_refresh_token(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    store = granted(fake, tmp_path)
    keeper = TokenKeeper(oauth, store, oa_id=fake.oa_id)
    first = await keeper.force_refresh(await keeper.access_token())
    second = await keeper.force_refresh(first)
    assert fake.refresh_calls == 2
    assert second != first
    assert len(fake.grant.burned) == 2
    assert keeper.reauth_reason is None


async def test_a_failed_save_keeps_the_new_pair_in_memory_and_alerts(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    store = granted(fake, tmp_path, expires_in=60)
    alerts: list[str] = []
    keeper = TokenKeeper(oauth, store, oa_id=fake.oa_id, on_alert=alerts.append)

    def broken_save(pair: object) -> None:
        raise PermissionError("read-only")

    store.save = broken_save  # type: ignore[method-assign]
    token = await keeper.access_token()
    assert token in fake.grant.access
    assert fake.refresh_calls == 1
    assert await keeper.access_token() == token
    assert fake.refresh_calls == 1
    assert alerts
    assert "could not be saved" in alerts[0]
    assert token not in alerts[0]


async def test_a_refused_refresh_needs_reauthorisation_and_fails_fast(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    store = granted(fake, tmp_path, expires_in=60)
    before = store.path.read_bytes()
    fake.refuse_refresh = -14014
    keeper = TokenKeeper(oauth, store, oa_id=fake.oa_id)
    with pytest.raises(ReauthorizationRequiredError, match="-14014"):
        await keeper.access_token()
    with pytest.raises(ReauthorizationRequiredError):
        await keeper.access_token()
    assert fake.refresh_calls == 1  # no retry loop
    assert store.path.read_bytes() == before  # the stored pair is untouched
    assert keeper.reauth_reason
    assert "-14014" in keeper.reauth_reason
    # Another process sharing the state dir sees the mark without calling Zalo.
    other = TokenKeeper(oauth, TokenFile(tmp_path, fake.oa_id), oa_id=fake.oa_id)
    with pytest.raises(ReauthorizationRequiredError):
        await other.access_token()
    assert fake.refresh_calls == 1


async def test_a_token_error_forces_one_refresh_and_one_retry(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, _keeper = oa
    fake.user("42")
    fake.fail_next("/v3.0/oa/message/cs", -216, "Access token is invalid")
    await client.send_text("42", "hi")
    assert fake.refresh_calls == 1
    assert len(fake.sent) == 1
    # Twice in a row: surfaced after the one retry, not looped.
    fake.fail_next("/v3.0/oa/message/cs", -220)
    fake.fail_next("/v3.0/oa/message/cs", -220)
    with pytest.raises(Exception, match="-220"):
        await client.send_text("42", "again")
    assert fake.refresh_calls == 2
    assert len(fake.sent) == 1


async def test_the_token_travels_in_the_access_token_header_only(
    fake: FakeZaloOA, oa: tuple[ZaloOA, TokenKeeper]
) -> None:
    client, keeper = oa
    fake.user("42")
    await client.send_text("42", "hi")
    await client.user_detail("42")
    token = await keeper.access_token()
    for call in fake.calls:
        assert call.headers["access_token"] == token
        assert "authorization" not in call.headers
        assert token not in call.query
    detail = next(c for c in fake.calls if c.path == "/v3.0/oa/user/detail")
    assert detail.query.startswith("data=")


async def test_processes_sharing_a_state_dir_adopt_each_others_refresh(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    granted(fake, tmp_path, expires_in=60)
    # Two keepers over the same files stand for two gateways: the flock serialises them and
    # the second adopts the pair the first saved instead of burning the new refresh token.
    first = TokenKeeper(oauth, TokenFile(tmp_path, fake.oa_id), oa_id=fake.oa_id)
    second = TokenKeeper(oauth, TokenFile(tmp_path, fake.oa_id), oa_id=fake.oa_id)
    a, b = await asyncio.gather(first.access_token(), second.access_token())
    assert a == b
    assert fake.refresh_calls == 1
    saved = json.loads((tmp_path / f"{fake.oa_id}.json").read_text())
    assert saved["access_token"] == a


def test_every_pair_loaded_or_saved_is_shown_to_the_secret_hook(tmp_path: Path) -> None:
    seen: list[TokenPair] = []
    store = TokenFile(tmp_path, "grant", on_pair=seen.append)
    assert store.load() is None
    assert seen == []  # nothing stored yet: nothing to hide
    pair = TokenPair(access_token="acc-1", refresh_token="ref-1", expires_at=1.0)
    store.save(pair)
    again = TokenFile(tmp_path, "grant", on_pair=seen.append).load()
    assert again == pair
    assert [(p.access_token, p.refresh_token) for p in seen] == [("acc-1", "ref-1")] * 2
