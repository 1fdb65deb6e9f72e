"""`zalogate directory self | peers list | groups list | groups members` (gateway-behaviour §5)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from zalogate.core.channel import (
    ChannelAccount,
    ChannelContext,
    Directory,
    DirectoryEntry,
    GroupMembers,
)
from zalogate.testing import FakeZaloBotApi

from .conftest import cli, run_cli
from .test_channels_cmd import StubChannel, install_stub


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> Path:
    path = tmp_path / "zalogate.json5"
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    return path


@pytest.fixture
def zalo_config(config_file: Path, fake: FakeZaloBotApi) -> Path:
    config_file.write_text(
        f"""{{ channels: {{ zalo: {{ botToken: "{fake.token}", apiBaseUrl: "{fake.base_url}",
             allowFrom: ["zalo:123", "zl:234", "345"] }} }} }}""",
        encoding="utf-8",
    )
    return config_file


# -- the zalo channel over loopback -------------------------------------------------------


async def test_self_is_the_bot_from_getme(
    fake: FakeZaloBotApi, zalo_config: Path, capsys: Any
) -> None:
    assert await cli("directory", "self", "--channel", "zalo", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["id"] == fake.bot.id
    assert body["name"] == "shop.bot"
    assert body["channel"] == "zalo"
    assert body["accountId"] == "default"
    assert await cli("directory", "self", "--channel", "zalo") == 0
    assert f"zalo/default: {fake.bot.id} (shop.bot)" in capsys.readouterr().out


async def test_peers_come_from_allow_from_without_prefixes(
    fake: FakeZaloBotApi, zalo_config: Path, capsys: Any
) -> None:
    """zalo-bot-api §8: ``["zalo:123","zl:234","345"]`` -> users 123, 234, 345."""
    assert await cli("directory", "peers", "list", "--channel", "zalo", "--json") == 0
    ids = [e["id"] for e in json.loads(capsys.readouterr().out)]
    assert ids == ["123", "234", "345"]
    assert await cli("directory", "peers", "list", "--channel", "zl", "-q", "23") == 0
    out = capsys.readouterr().out
    assert "Peers (2)" in out
    assert "123" in out
    assert "234" in out
    assert "345" not in out
    assert await cli("directory", "peers", "list", "--channel", "zalo", "-n", "1", "--json") == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == ["123"]


async def test_groups_list_is_empty_and_says_for_whom(
    fake: FakeZaloBotApi, zalo_config: Path, capsys: Any
) -> None:
    assert await cli("directory", "groups", "list", "--channel", "zalo", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert await cli("directory", "groups", "list", "--channel", "zalo") == 0
    assert "No groups for zalo account default." in capsys.readouterr().out


async def test_group_members_on_the_bot_api_is_an_error(
    fake: FakeZaloBotApi, zalo_config: Path, capsys: Any
) -> None:
    code = await cli("directory", "groups", "members", "g1", "--channel", "zalo", "--json")
    assert code == 1
    assert json.loads(capsys.readouterr().out) == {
        "error": "the zalo channel cannot list group members"
    }


async def test_a_zalo_failure_exits_non_zero_with_a_json_error(
    fake: FakeZaloBotApi, zalo_config: Path, capsys: Any
) -> None:
    fake.error_next("getMe", 401, "Unauthorized")
    assert await cli("directory", "self", "--channel", "zalo", "--json") == 1
    body = json.loads(capsys.readouterr().out)
    assert "Unauthorized" in body["error"]
    assert fake.token.split(":")[1] not in body["error"]


# -- the optional capabilities, through a stub channel ------------------------------------


class Friends(StubChannel):
    """A channel with a live friend list, groups and group members (like zalouser)."""

    friends = (
        DirectoryEntry("1", "An Nguyen"),
        DirectoryEntry("2", "Anh"),
        DirectoryEntry("3", "Binh"),
    )

    @property
    def directory(self) -> Directory:
        return self

    @property
    def group_members(self) -> GroupMembers:
        return self

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        return DirectoryEntry("0", "Me")

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return self.friends

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        return [DirectoryEntry("g-9", "Team", kind="group")]

    async def directory_group_members(
        self, account: ChannelAccount, group_id: str
    ) -> Sequence[DirectoryEntry]:
        self.asked = group_id
        return self.friends[:2]


@pytest.fixture
def stub(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    built = install_stub(monkeypatch, Friends)
    config_file.write_text("{ channels: { stub: {} } }", encoding="utf-8")
    return built


def test_self_unsupported_is_reported_with_exit_zero(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    install_stub(monkeypatch, StubChannel)  # no directory capability
    config_file.write_text("{ channels: { stub: {} } }", encoding="utf-8")
    assert run_cli(["directory", "self", "--channel", "stub", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "status": "unavailable",
        "channel": "stub",
        "accountId": "default",
        "reason": "self-identity-unsupported",
    }


def test_query_puts_exact_matches_first(stub: list[Any], capsys: Any) -> None:
    assert run_cli(["directory", "peers", "list", "--channel", "stub", "-q", "anh", "--json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)] == ["Anh"]
    assert run_cli(["directory", "peers", "list", "--channel", "stub", "-q", "an", "--json"]) == 0
    # "an" is nobody's whole name: substring matches in the channel's order
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == ["1", "2"]


def test_group_members_strips_the_group_prefix(stub: list[Any], capsys: Any) -> None:
    args = ["directory", "groups", "members", "--group-id", "group:g-9", "--channel", "stub"]
    assert run_cli([*args, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert stub[-1].asked == "g-9"
    assert "Members of group g-9 (1)" in out
    assert "An Nguyen" in out
    assert "Anh" not in out.replace("An Nguyen", "")


def test_group_members_without_a_group_is_a_usage_error(stub: list[Any], capsys: Any) -> None:
    assert run_cli(["directory", "groups", "members", "--channel", "stub"]) == 2
    assert "give the group id" in capsys.readouterr().err


def test_a_disabled_account_is_refused(stub: list[Any], capsys: Any) -> None:
    args = ["directory", "groups", "list", "--channel", "stub", "--account", "other"]
    assert run_cli(args) == 1
    assert "the stub account 'other' is disabled" in capsys.readouterr().err


def test_the_channel_gets_the_state_dir_store_and_no_routes(
    stub: list[Any], tmp_path: Path, capsys: Any
) -> None:
    assert run_cli(["directory", "groups", "list", "--channel", "stub"]) == 0
    context: ChannelContext = stub[-1].context
    assert context.routes is None
    assert context.state_dir == tmp_path / "state"
    assert context.store.path.parent == tmp_path / "state"
    assert context.store.path.exists()
