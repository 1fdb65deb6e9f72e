"""Credential files: 0700 folders, 0600 files, profile names kept inside the folder, refresh
rules (P36) and unusable files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from zalogate.channels.zalouser.credentials import CredentialFileError, CredentialStore
from zalogate.personal import Credentials

UA = "Mozilla/5.0 test"


def creds(*values: str) -> Credentials:
    cookies = [
        {"key": f"c{i}", "value": v, "domain": "zalo.me", "path": "/"} for i, v in enumerate(values)
    ]
    return Credentials.from_json({"imei": "imei-1", "cookies": cookies, "userAgent": UA})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_file_is_private_and_round_trips(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    path = store.save("default", creds("a", "b"), uid="1001", display_name="Bot")
    assert path == tmp_path / "credentials" / "zalouser" / "default.json"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    loaded = store.load("default")
    assert loaded is not None
    assert loaded.credentials == creds("a", "b")
    assert (loaded.uid, loaded.display_name) == ("1001", "Bot")
    assert loaded.last_used_at
    assert loaded.created_at


def test_profile_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    for profile in ("../evil", "team/A", ".."):
        path = store.path(profile)
        assert path.parent == store.root
    assert store.path("Team/A") == store.path("team/a")


def test_refresh_writes_only_when_the_jar_changed(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("p", creds("a", "b"))
    before = json.loads(store.path("p").read_text())
    # The same cookies in another order: nothing to write.
    reordered = Credentials("imei-1", list(reversed(creds("a", "b").cookies)), UA, "vi")
    assert store.refresh("p", reordered) is False
    assert json.loads(store.path("p").read_text()) == before
    # A refreshed cookie is written back, keeping createdAt.
    assert store.refresh("p", creds("a", "B")) is True
    after = json.loads(store.path("p").read_text())
    assert after["createdAt"] == before["createdAt"]
    assert store.load("p").credentials == creds("a", "B")  # type: ignore[union-attr]


def test_touch_moves_last_used_at_and_keeps_created_at(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("p", creds("a"), created_at="2026-01-01T00:00:00.000Z", used=False)
    assert store.refresh("p", creds("a"), touch=True) is True
    data = json.loads(store.path("p").read_text())
    assert data["createdAt"] == "2026-01-01T00:00:00.000Z"
    assert data["lastUsedAt"].endswith("Z")


def test_unusable_files_are_reported_without_values(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.root.mkdir(parents=True)
    store.path("bad").write_text("{not json")
    with pytest.raises(CredentialFileError, match="not JSON"):
        store.load("bad")
    store.path("shape").write_text(json.dumps({"imei": "x", "cookies": "secret-cookie"}))
    with pytest.raises(CredentialFileError) as excinfo:
        store.load("shape")
    assert "secret-cookie" not in str(excinfo.value)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(creds("a").to_json()))
    os.symlink(target, store.path("link"))
    with pytest.raises(CredentialFileError, match="symlink"):
        store.load("link")


def test_loose_permissions_are_tightened_on_load(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    path = store.save("p", creds("a"))
    os.chmod(path, 0o644)
    store.load("p")
    assert mode(path) == 0o600


def test_delete(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("p", creds("a"))
    assert store.delete("p") is True
    assert store.delete("p") is False
    assert store.load("p") is None
