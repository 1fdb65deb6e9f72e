"""`zalogate message send` against FakeZaloBotApi over loopback (zalo-bot-api.md §4.5, §8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zalogate.testing import FakeZaloBotApi

from .conftest import cli


@pytest.fixture
def configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeZaloBotApi, state_dir: Path
) -> Any:

    def write(accounts: str = "") -> Path:
        path = tmp_path / "zalogate.json5"
        path.write_text(
            f"""{{ channels: {{ zalo: {{ botToken: "{fake.token}",
                 apiBaseUrl: "{fake.base_url}", {accounts} }} }} }}""",
            encoding="utf-8",
        )
        monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
        return path

    write()
    return write


async def test_send_text_prints_the_message_id(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    assert await cli("message", "send", "--channel", "zalo", "-t", "u42", "-m", "xin chào") == 0
    [sent] = fake.sent
    assert (sent.method, sent.chat_id, sent.text) == ("sendMessage", "u42", "xin chào")
    out = capsys.readouterr().out
    assert f"message id {sent.message_id}" in out
    assert "zalo/default" in out


async def test_json_receipt_and_prefixed_target(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    """zalo-bot-api §4.5: a leading ``zalo:``/``zl:`` and ``user:`` are stripped."""
    assert await cli("message", "send", "-t", "zl:user:u7", "-m", "hi", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    [sent] = fake.sent
    assert sent.chat_id == "u7"
    assert body == {
        "ok": True,
        "channel": "zalo",
        "accountId": "default",
        "target": "user:u7",
        "messageIds": [sent.message_id],
    }


async def test_media_is_sent_as_a_photo_with_the_text_as_caption(
    fake: FakeZaloBotApi, configure: Any
) -> None:
    # A public address (the fake only records it; nothing fetches it): the channel refuses
    # loopback and private photo URLs, which Zalo's servers could not fetch anyway.
    url = "https://93.184.215.14/cat.png"
    code = await cli("message", "send", "-t", "u1", "-m", "a cat", "--media", url)
    assert code == 0
    [sent] = fake.sent
    assert (sent.method, sent.photo, sent.caption) == ("sendPhoto", url, "a cat")


async def test_link_without_a_link_capability_goes_in_the_text(
    fake: FakeZaloBotApi, configure: Any
) -> None:
    code = await cli("message", "send", "-t", "u1", "-m", "see", "--link", "https://zalo.me")
    assert code == 0
    [sent] = fake.sent
    assert sent.text == "see\nhttps://zalo.me"


async def test_send_from_a_named_account(fake: FakeZaloBotApi, configure: Any, capsys: Any) -> None:
    second = fake.add_bot(name="second.bot")
    configure(f'accounts: {{ default: {{}}, Work: {{ botToken: "{second.token}" }} }}')
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--account", "WORK", "--json") == 0
    assert json.loads(capsys.readouterr().out)["accountId"] == "work"
    [sent] = fake.sent
    assert sent.bot_id == second.id


async def test_unknown_account_is_one_line_naming_the_configured_ones(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--account", "nope") == 1
    err = capsys.readouterr().err
    assert "unknown zalo account 'nope' (configured: default)" in err
    assert len(err.strip().splitlines()) == 1
    assert not fake.sent


async def test_disabled_account_is_refused(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    configure("accounts: { default: {}, off: { enabled: false } }")
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--account", "off") == 1
    assert "the zalo account 'off' is disabled" in capsys.readouterr().err
    assert not fake.sent


async def test_missing_token_is_a_clear_error_without_any_secret(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    """zalo-bot-api §5.2: an explicitly blank account token does not inherit."""
    configure('accounts: { default: {}, blank: { botToken: "" } }')
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--account", "blank") == 1
    err = capsys.readouterr().err
    assert "error:" in err
    assert "token" in err.lower()
    assert fake.token.split(":")[1] not in err
    assert "Traceback" not in err
    assert not fake.sent


async def test_zalo_error_is_reported_with_its_description(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    fake.error_next("sendMessage", 400, "Bad request: The chat_id is invalid")
    assert await cli("message", "send", "-t", "u1", "-m", "x") == 1
    err = capsys.readouterr().err
    assert "The chat_id is invalid" in err
    assert fake.token.split(":")[1] not in err
    assert len(err.strip().splitlines()) == 1


async def test_zalo_error_under_json_is_a_json_error(
    fake: FakeZaloBotApi, configure: Any, capsys: Any
) -> None:
    fake.error_next("sendMessage", 400, "Bad request: The chat_id is invalid")
    assert await cli("message", "send", "-t", "u1", "-m", "x", "--json") == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False
    assert "The chat_id is invalid" in body["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "telegram", "-t", "u1", "-m", "x"], "unknown channel 'telegram'"),
        (["--channel", "zalo", "-t", "zlu:123", "-m", "x"], "does not match channel 'zalo'"),
        (["--channel", "zalo", "-t", "zalo:", "-m", "x"], "No chat_id provided"),
        (["--channel", "zalo", "-t", "u1"], "nothing to send"),
        (["--channel", "zalo", "-t", "u1", "--media", "/no/such/file.png"], "--media"),
    ],
)
async def test_bad_arguments_fail_before_anything_is_sent(
    fake: FakeZaloBotApi, configure: Any, capsys: Any, args: list[str], message: str
) -> None:
    assert await cli("message", "send", *args) == 1
    assert message in capsys.readouterr().err
    assert not fake.sent


async def test_several_configured_channels_need_a_channel_option(
    fake: FakeZaloBotApi, configure: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from .test_channels_cmd import StubChannel, install_stub

    built = install_stub(monkeypatch, StubChannel)
    path = configure()
    path.write_text(
        f"""{{ channels: {{ stub: {{}},
             zalo: {{ botToken: "{fake.token}", apiBaseUrl: "{fake.base_url}" }} }} }}""",
        encoding="utf-8",
    )
    assert await cli("message", "send", "-t", "u1", "-m", "x") == 1
    assert "several channels are configured (zalo, stub); pass --channel" in capsys.readouterr().err
    # a provider prefix names the channel; --channel picks the other one
    assert await cli("message", "send", "-t", "zalo:u1", "-m", "x") == 0
    assert [s.chat_id for s in fake.sent] == ["u1"]
    capsys.readouterr()
    assert await cli("message", "send", "--channel", "stub", "-t", "u1", "-m", "x", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["channel"], body["target"], body["messageIds"]) == ("stub", "u1", ["m1"])
    assert len(built) == 1  # only the command sent through stub built that channel
