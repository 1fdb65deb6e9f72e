"""Fixtures: a started ``FakeZaloOA`` and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.oa import OAuthClient, TokenFile, TokenKeeper, TokenPair, ZaloOA
from zalogate.testing import FakeZaloOA


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def oauth(fake: FakeZaloOA) -> AsyncIterator[OAuthClient]:
    client = OAuthClient(fake.app_id, fake.secret_key, oauth_url=fake.base_url)
    yield client
    await client.aclose()


def granted(fake: FakeZaloOA, directory: Path, *, expires_in: float | None = None) -> TokenFile:
    """A token file holding a pair the fake issued (optionally expiring soon)."""
    pair = fake.grant_pair()
    expires_at = fake.clock() + (float(pair["expires_in"]) if expires_in is None else expires_in)
    store = TokenFile(directory, fake.oa_id)
    store.save(TokenPair(pair["access_token"], pair["refresh_token"], expires_at))
    return store


@pytest.fixture
async def oa(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> AsyncIterator[tuple[ZaloOA, TokenKeeper]]:
    keeper = TokenKeeper(oauth, granted(fake, tmp_path), oa_id=fake.oa_id)
    client = ZaloOA(keeper, api_url=fake.base_url)
    yield client, keeper
    await client.aclose()
