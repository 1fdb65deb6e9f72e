"""`zalogate sandbox --channel zalouser`: a real gateway against FakeZaloPersonal.

The QR login by the simulated phone, the DM pairing flow, group messages with and without a
mention (the kept history), scripted and interactive.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.personal import Credentials
from zalogate.sandbox import Sandbox, ScriptError, parse_script, run_script
from zalogate.sandbox.zalouser_simulator import SANDBOX_PROFILE, ZalouserSimulator
from zalogate.text import utf16_len

from .sandbox_driver import (
    EXAMPLES,
    ROOT,
    Terminal,
    run_cli,
    run_with_openai_agent,
    write,
    zalogate_command,
)

ZALOUSER_SCRIPT = EXAMPLES / "zalouser.script"
BOT = ZalouserSimulator.bot_uid
USER = ZalouserSimulator.user_id
GROUP = ZalouserSimulator.group_id


# -- the example script ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_zalouser_example_passes_as_a_subprocess(clean_env: dict[str, str]) -> None:
    """What CI runs: QR login, pairing, /approve, a DM, group history, a mention."""
    result = subprocess.run(
        [*zalogate_command(), "sandbox", "--channel", "zalouser", "--script", str(ZALOUSER_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
        cwd=ROOT,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "sandbox: all 10 steps passed" in out
    # The login as `channels login` shows it, with the phone's steps in between, in order.
    steps = [
        "QR image saved to: ",
        "Scan the QR code with the Zalo app",
        "(simulated phone) Zalogate Bot scans the QR code",
        "Scanned by Zalogate Bot.",
        "(simulated phone) Zalogate Bot confirms the login",
        f"Login successful. Logged in as Zalogate Bot ({BOT})",
        "sandbox: replaying",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "▀" in out or "█" in out  # the QR code drawn in the terminal
    assert "Traceback" not in result.stderr


def test_the_zalouser_example_passes_in_process(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    # The state dir also holds a real account's session: the sandbox must leave it alone.
    real = Credentials(
        imei="real-imei",
        cookies=[{"key": "zpw_sek", "value": "real-session", "domain": "zalo.me", "path": "/"}],
        user_agent="Mozilla/5.0",
    )
    real_file = CredentialStore(state).save("default", real, uid="42")
    real_bytes = real_file.read_bytes()
    args = ["sandbox", "--channel", "zlu", "--state-dir", str(state)]
    assert run_cli([*args, "--script", str(ZALOUSER_SCRIPT)]) == 0
    assert real_file.read_bytes() == real_bytes
    out = capsys.readouterr().out
    assert "sandbox: all 10 steps passed" in out
    assert f"approved {USER}" in out
    assert "group history: 1 message pending, 'Sandbox User: Mai họp lúc 9 giờ nhé'" in out
    # The session the gateway ran from and the QR image are private files.
    session = state / "credentials" / "zalouser" / f"{SANDBOX_PROFILE}.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    saved = CredentialStore(state).load(SANDBOX_PROFILE)
    assert saved is not None
    assert (saved.uid, saved.display_name) == (BOT, "Zalogate Bot")
    assert saved.credentials.cookies  # a cookie login needs the jar...
    for cookie in saved.credentials.cookies:
        assert str(cookie["value"]) not in out  # ...which never reaches the terminal
    png = state / "tmp" / "zalouser-login-qr-default.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert f"QR image saved to: {png}" in out


def test_a_failing_history_step_says_what_is_pending(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(
        tmp_path,
        "history.script",
        "/group một\n/group hai\n/history (?s)một.*hai\n/timeout 0.3\n/history ba\n",
    )
    assert run_cli(["sandbox", "--channel", "zalouser", "--script", str(script)]) == 1
    err = capsys.readouterr().err
    assert "sandbox: FAILED at step 5 of 5" in err
    assert "line 5: /history ba" in err
    assert "expected group history matching /ba/ within 0.3 s" in err
    assert "'Sandbox User: một\\nSandbox User: hai'" in err


def test_history_steps_parse() -> None:
    steps = parse_script("/history\n/history ^Alice: hi$\n")
    assert (steps[0].kind, steps[0].text, steps[0].pattern) == ("history", "", None)
    assert steps[1].pattern is not None
    assert steps[1].describe() == "/history ^Alice: hi$"
    assert steps[0].describe() == "/history"
    with pytest.raises(ScriptError, match=r"x\.script:1: bad regular expression"):
        parse_script("/history (oops\n", source="x.script")


# -- the Sandbox API --------------------------------------------------------------------------


async def test_group_mentions_history_and_direct_chat(
    clean_env: dict[str, str],
) -> None:
    async with Sandbox("zalouser") as sandbox:
        simulator = sandbox.simulator
        assert isinstance(simulator, ZalouserSimulator)
        fake = simulator.fake
        # Groups need no pairing; without a mention the bot keeps the message, silent.
        assert await sandbox.say_in_group("ai rảnh không?") is None
        assert await sandbox.next_reply(timeout=0.5) is None
        await run_until_history(sandbox, ["Sandbox User: ai rảnh không?"])
        # The mention where the user typed it, after an emoji (2 UTF-16 units).
        text = "😀 cảm ơn @Zalogate Bot nhé"
        assert await sandbox.say_in_group(text, mention=True) is None
        reply = await sandbox.next_reply(timeout=10)
        assert reply is not None
        assert (reply.chat_id, reply.in_group, reply.text) == (GROUP, True, text)
        (message,) = [
            m for m in fake.messages.values() if m["uidFrom"] == USER and m.get("mentions")
        ]
        assert message["content"] == text
        assert message["cmd"] == 521
        assert message["idTo"] == GROUP
        before = utf16_len("😀 cảm ơn ")
        assert message["mentions"] == [
            {"uid": BOT, "pos": before, "len": len("@Zalogate Bot"), "type": 0}
        ]
        assert before == len("😀 cảm ơn ") + 1
        await run_until_history(sandbox, [])
        # A direct chat: the pairing challenge, then Markdown sent as Zalo styles.
        await sandbox.say("chào")
        challenge = await sandbox.next_reply(timeout=10)
        assert challenge is not None
        assert "Pairing code: " in challenge.text
        assert (challenge.chat_id, challenge.in_group) == (USER, False)
        assert (await sandbox.approve(wait=5)).id == USER
        await sandbox.say("**đậm** và _nghiêng_")
        reply = await sandbox.next_reply(timeout=10)
        assert reply is not None
        assert (reply.chat_id, reply.text) == (USER, "đậm và nghiêng")
        texts = [(r.sender, r.thread_id) for r in fake.sent if r.kind == "text"]
        assert texts == [(BOT, GROUP), (BOT, USER), (BOT, USER)]
        assert await sandbox.next_reply(timeout=0.3) is None


async def run_until_history(sandbox: Sandbox, expected: list[str]) -> None:
    steps = parse_script("/history\n" if not expected else f"/history {expected[0]}\n")
    report = await run_script(sandbox, steps, step_timeout=5)
    assert report.ok, report.failure
    lines = [f"{e.sender}: {e.body}" for e in await sandbox.group_history()]
    assert lines == expected


def test_a_config_brings_its_agent_and_policies_not_its_zalo_hosts(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent gets the kept group message before the mention: it answers with the history."""
    channels = {
        "zalouser": {
            "profile": "work",
            "apiHosts": {"id": "https://id.example.invalid"},
            "websocketUrl": "wss://ws.example.invalid/ws",
            "groupPolicy": "open",
        }
    }
    requests = run_with_openai_agent(
        tmp_path,
        capsys,
        answer="Họp lúc 9 giờ sáng mai.",
        channels=channels,
        script=(
            "/group Mai họp lúc 9 giờ nhé\n"
            "/history Mai họp\n"
            "/mention mấy giờ họp?\n"
            "< ^Họp lúc 9 giờ sáng mai\\.$\n"
            "/history\n"
        ),
        args=["--channel", "zalouser"],
    )
    assert len(requests) == 1
    prompt = json.dumps(requests[0].json, ensure_ascii=False)
    assert prompt.index("Mai họp lúc 9 giờ nhé") < prompt.index("mấy giờ họp?")


# -- interactive ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_person_logs_in_pairs_and_chats_in_a_group(clean_env: dict[str, str]) -> None:
    term = Terminal(clean_env, "--channel", "zalouser")
    try:
        term.expect("Login successful. Logged in as Zalogate Bot")
        term.expect("/quit")  # the help text: the sandbox is ready
        assert "The bot is Zalogate Bot" in term.seen
        term.send("xin chào")
        term.expect("Pairing code: ")
        term.send("/approve")
        term.expect(f"operator: approved zalouser sender {USER}")
        term.send("hello bot")
        term.expect("bot> hello bot")
        term.send("/group họp lúc 9 giờ")
        term.poll_history("Sandbox User: họp lúc 9 giờ")
        term.send("/mention mấy giờ?")
        term.expect("bot (group)> @Zalogate Bot mấy giờ?")
        term.send("/history")
        term.expect("group history: nothing pending")
        term.send("/quit")
        term.expect("sandbox stopped")
    finally:
        code = term.close()
    assert code == 0, term.seen


async def test_a_kept_state_dir_logs_in_again_and_keeps_the_approval(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Each run has a new simulator: the old session is replaced, the pairing store stays."""
    lines: list[str] = []
    steps = parse_script("> hi\n< Pairing code\n/approve\n> again\n< ^again$\n")
    async with Sandbox("zalouser", state_dir=tmp_path / "kept", info=lines.append) as sandbox:
        report = await run_script(sandbox, steps, step_timeout=10)
    assert report.ok, report.failure
    first = CredentialStore(tmp_path / "kept").load(SANDBOX_PROFILE)
    assert first is not None
    lines.clear()
    async with Sandbox("zalouser", state_dir=tmp_path / "kept", info=lines.append) as sandbox:
        report = await run_script(sandbox, parse_script("> back\n< ^back$\n"), step_timeout=10)
    assert report.ok, report.failure
    assert any(line.startswith("Login successful.") for line in lines)
    second = CredentialStore(tmp_path / "kept").load(SANDBOX_PROFILE)
    assert second is not None
    assert second.credentials.cookies != first.credentials.cookies
