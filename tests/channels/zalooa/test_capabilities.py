"""The zalooa channel's directory, reactions, agent tool, probe and status snapshot."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from zalogate.channels.zalooa.channel import ZalooaChannel
from zalogate.core.channel import ToolContext
from zalogate.core.model import ChatType
from zalogate.oa import TokenFile, TokenPair
from zalogate.testing import FakeZaloOA


def _not_logged(_secret: str) -> None:
    """No log redaction outside a gateway."""


def channel_for(fake: FakeZaloOA, tmp_path: Path) -> ZalooaChannel:
    section = {
        "appId": fake.app_id,
        "secretKey": fake.secret_key,
        "oaId": fake.oa_id,
        "apiUrl": fake.base_url,
        "oauthUrl": fake.base_url,
    }
    pair = fake.grant_pair()
    TokenFile(tmp_path / "zalooa" / "default", "grant").save(
        TokenPair(pair["access_token"], pair["refresh_token"], fake.clock() + 90000)
    )
    config = SimpleNamespace(channels=SimpleNamespace(plugin_section=lambda c: section))
    context = SimpleNamespace(
        config=config,
        state_dir=tmp_path,
        extras={},
        register_secret=_not_logged,
        token_stores=None,
        shared=None,
    )
    return ZalooaChannel(context)  # type: ignore[arg-type]


async def test_directory_reactions_tool_probe_and_snapshot(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    channel = channel_for(fake, tmp_path)
    [account] = channel.accounts()
    fake.user("42", "Khoa")
    fake.user("43", "Lan", follower=False)
    said = fake.user_message("43", "user_send_text", {"text": "hi"})["message"]["msg_id"]

    directory = channel.directory
    assert directory is not None
    me = await directory.directory_self(account)
    assert (me.id, me.name) == (fake.oa_id, fake.oa_name)
    peers = await directory.directory_peers(account)
    assert {(p.id, p.name) for p in peers} == {("42", "Khoa"), ("43", "Lan")}
    assert [p.id for p in await directory.directory_peers(account, query="lan")] == ["43"]

    reactions = channel.reactions
    assert reactions is not None
    await reactions.react(account, "zalooa:43", said, "/-heart")
    assert fake.reactions == [("43", said, "/-heart")]

    context = ToolContext("zalooa", "default", "43", ChatType.DIRECT, sender_id="43")
    [tool] = channel.agent_tools(account, context)
    assert tool.name == "zalooa_send"
    result = await tool.call({"text": "từ công cụ"})
    assert result["ok"] is True
    assert fake.sent[-1].user_id == "43"
    assert fake.sent[-1].text == "từ công cụ"
    fake.users["43"].last_interaction = fake.clock() - 8 * 86400
    refused = await tool.call({"userId": "43", "text": "too late"})
    assert refused["ok"] is False
    assert "7-day" in refused["error"]

    probe = await channel.probe(account)
    assert probe.ok
    assert probe.identity["oaId"] == fake.oa_id
    snapshot = channel.account_snapshot(account)
    assert snapshot["tokenStatus"] == "ok"
    channel.live(account).token_file.mark_reauth("refresh refused: error -14014")
    assert channel.account_snapshot(account)["tokenStatus"] == "reauthorize"
    assert not (await channel.probe(account)).ok
    await channel.aclose()
