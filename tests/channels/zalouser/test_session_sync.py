"""A personal account's saved session shared through a vault (cluster mode), on files."""

from __future__ import annotations

import os
from pathlib import Path

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.session_sync import SessionSync
from zalogate.personal import Credentials
from zalogate.testing import FakeZaloPersonal


class DictVault:
    """A vault in memory (the cluster's is sealed in KV: tests/cluster)."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, ...], bytes] = {}

    async def load(self, name: tuple[str, ...]) -> bytes | None:
        return self.docs.get(name)

    async def save(self, name: tuple[str, ...], data: bytes) -> None:
        self.docs[name] = data

    async def forget(self, name: tuple[str, ...]) -> None:
        self.docs.pop(name, None)


def node(root: Path, vault: DictVault) -> tuple[CredentialStore, SessionSync]:
    store = CredentialStore(root)
    sync = SessionSync(store, vault)
    store.on_change = sync.changed
    return store, sync


async def test_a_session_saved_on_one_node_is_used_by_the_next(tmp_path: Path) -> None:
    creds = Credentials.from_json(FakeZaloPersonal().credentials("1001", user_agent="u"))
    vault = DictVault()
    store_a, sync_a = node(tmp_path / "a", vault)
    store_b, sync_b = node(tmp_path / "b", vault)

    store_a.save("Default", creds, uid="1001")  # a QR login on node a
    await sync_a.aclose()
    assert list(vault.docs) == [("zalouser", "default")]

    await sync_b.pull("default")  # b takes the account over
    moved = store_b.load("default")
    assert moved is not None
    assert moved.credentials.imei == creds.imei
    assert moved.uid == "1001"
    assert os.stat(store_b.path("default")).st_mode & 0o777 == 0o600

    # b's own newer save is not overwritten by the older copy when b runs again
    store_b.save("default", creds, uid="1001", display_name="Bot")
    await sync_b.aclose()
    before = store_b.path("default").read_bytes()
    await sync_b.pull("default")
    assert store_b.path("default").read_bytes() == before

    # a logout anywhere forgets the shared copy
    store_a.delete("default")
    await sync_a.aclose()
    assert vault.docs == {}


async def test_without_a_vault_nothing_is_shared(tmp_path: Path) -> None:
    creds = Credentials.from_json(FakeZaloPersonal().credentials("1001", user_agent="u"))
    store = CredentialStore(tmp_path)
    sync = SessionSync(store, None)
    store.on_change = sync.changed
    store.save("default", creds)
    await sync.pull("default")
    await sync.aclose()
    assert store.load("default") is not None
