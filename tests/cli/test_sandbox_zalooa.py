"""`zalogate sandbox --channel zalooa`: a real gateway against FakeZaloOA."""

from __future__ import annotations

import subprocess

import pytest

from zalogate.core.pairing import SqlitePairingStore
from zalogate.sandbox import Sandbox
from zalogate.sandbox.zalooa_simulator import ZalooaSimulator

from .sandbox_driver import EXAMPLES, ROOT, zalogate_command

SCRIPT = EXAMPLES / "zalooa.script"


@pytest.mark.timeout(60)
async def test_a_conversation_runs_end_to_end_after_the_consent() -> None:
    lines: list[str] = []
    async with Sandbox("zalooa", info=lines.append) as sandbox:
        assert any("/v4/oa/permission?" in line for line in lines)
        await sandbox.say("hello")
        challenge = await sandbox.next_reply(10)
        assert challenge is not None  # the pairing challenge (dmPolicy pairing)
        assert challenge.chat_id == ZalooaSimulator.user_id
        store = sandbox.gateway.store
        assert store is not None
        [request] = await SqlitePairingStore(store).list_pending("zalooa", "default")
        await SqlitePairingStore(store).approve("zalooa", request.code)
        await sandbox.say("xin chao")
        reply = await sandbox.next_reply(10)
        assert reply is not None
        assert "xin chao" in reply.text
        note = await sandbox.say_in_group("hi", mention=True)
        assert note is not None
        assert "no group" in note


@pytest.mark.slow
def test_the_zalooa_example_passes_as_a_subprocess(clean_env: dict[str, str]) -> None:
    result = subprocess.run(
        [*zalogate_command(), "sandbox", "--channel", "zalooa", "--script", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sandbox: all 5 steps passed" in result.stdout
    assert "/v4/oa/permission?" in result.stdout
