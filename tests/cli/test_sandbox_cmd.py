"""`zalogate sandbox`: a real gateway against FakeZaloBotApi, scripted and interactive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from zalogate.sandbox import Sandbox, SandboxError, ScriptError, parse_script, run_script

from .sandbox_driver import (
    EXAMPLES,
    ROOT,
    Terminal,
    run_cli,
    run_with_openai_agent,
    write,
    zalogate_command,
)

PAIRING_SCRIPT = EXAMPLES / "pairing.script"


# -- --script ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_readme_script_passes_as_a_subprocess(clean_env: dict[str, str]) -> None:
    """What CI runs: the pairing flow, /approve, then the echo agent answers."""
    result = subprocess.run(
        [*zalogate_command(), "sandbox", "--script", str(PAIRING_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=90,
        env=clean_env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sandbox: all 7 steps passed" in result.stdout
    assert "Pairing code: " in result.stdout


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (str(PAIRING_SCRIPT), str(PAIRING_SCRIPT)),
        # The scripts ship in the package: by name after ``pip install``.
        ("pairing", "pairing (bundled)"),
        # README 0.1 said ``examples/sandbox/pairing.script``; that folder is gone.
        ("examples/sandbox/pairing.script", "pairing (bundled)"),
    ],
)
def test_the_readme_script_passes_in_process(
    clean_env: dict[str, str], capsys: pytest.CaptureFixture[str], given: str, shown: str
) -> None:
    assert run_cli(["sandbox", "--script", given]) == 0
    out = capsys.readouterr().out
    assert f"sandbox: replaying {shown} (7 steps" in out
    assert "sandbox: all 7 steps passed" in out
    assert "approved 6011223344556677" in out


def test_the_group_example_shows_the_undelivered_message(
    clean_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["sandbox", "--script", str(EXAMPLES / "group.script")]) == 0
    out = capsys.readouterr().out
    assert "the gateway does not see this one" in out
    assert "sandbox: all 3 steps passed" in out


def test_a_wrong_reply_fails_with_a_diff(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(
        tmp_path,
        "wrong.script",
        "> xin chào\n< Pairing code\n/approve\n> hello\n< ^goodbye$\n> never sent\n",
    )
    assert run_cli(["sandbox", "--script", str(script)]) == 1
    captured = capsys.readouterr()
    assert "sandbox: FAILED at step 5 of 6" in captured.err
    assert "line 5: < ^goodbye$" in captured.err
    assert "- expected: /^goodbye$/" in captured.err
    assert "+ got:      'hello'" in captured.err
    assert "never sent" not in captured.out  # the replay stopped at the failure


def test_a_missing_reply_fails_after_the_step_timeout(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(
        tmp_path, "silent.script", "> xin chào\n< Pairing code\n/timeout 0.3\n< another reply\n"
    )
    assert run_cli(["sandbox", "--script", str(script)]) == 1
    err = capsys.readouterr().err
    assert "sandbox: FAILED at step 4 of 4" in err
    assert "line 4: < another reply" in err
    assert "+ got:      (no reply)" in err


def test_approve_with_nothing_pending_fails_the_step(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, "early.script", "/approve\n")
    assert run_cli(["sandbox", "--script", str(script), "--step-timeout", "0.2"]) == 1
    assert "no pairing request is pending" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("> hi\nthis is not a step\n", "bad.script:2: a step starts with"),
        ("< (unclosed\n", "bad.script:1: bad regular expression"),
        ("/dance\n", "bad.script:1: unknown command '/dance'"),
        ("/approve now\n", "bad.script:1: /approve takes no argument"),
        ("/timeout soon\n", "bad.script:1: /timeout needs a number of seconds"),
        ("# only a comment\n", "the script has no steps"),
    ],
)
def test_a_bad_script_is_a_usage_error_naming_the_line(
    clean_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    script = write(tmp_path, "bad.script", text)
    assert run_cli(["sandbox", "--script", str(script)]) == 2
    assert message in capsys.readouterr().err


def test_a_config_brings_its_agent_and_policies_not_its_credentials(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--config: the openai agent against a (fake) LLM, an open DM policy, a real token ignored."""
    channels = {
        "zalo": {
            "botToken": "123:the-real-token-never-used",
            "webhookUrl": "https://bot.example.com/zalo",
            "webhookSecret": "webhook-secret-123",
            "dmPolicy": "open",
            "allowFrom": ["*"],
        }
    }
    requests = run_with_openai_agent(
        tmp_path,
        capsys,
        answer="Chào bạn, tôi là trợ lý.",
        channels=channels,
        script="> xin chào\n< ^Chào bạn, tôi là trợ lý\\.$\n",
    )
    assert len(requests) == 1
    assert "xin chào" in json.dumps(requests[0].json, ensure_ascii=False)


def test_an_invalid_config_lists_its_problems(
    clean_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "zalogate.json5", '{ agent: { type: "telepathy" } }')
    assert run_cli(["sandbox", "--config", str(config), "--script", str(PAIRING_SCRIPT)]) == 1
    err = capsys.readouterr().err
    assert "agent.type" in err
    assert "the sandbox config is invalid" in err


# -- the Sandbox API: groups ----------------------------------------------------------------


async def test_group_messages_reach_the_bot_only_with_a_mention(clean_env: dict[str, str]) -> None:
    async with Sandbox() as sandbox:
        note = await sandbox.say_in_group("nobody mentioned me")
        assert note is not None
        assert "mention" in note
        assert await sandbox.say_in_group("hello group", mention=True) is None
        reply = await sandbox.next_reply(timeout=10)
        assert reply is not None
        assert reply.in_group
        assert reply.chat_id == sandbox.simulator.group_id
        assert reply.text.endswith("hello group")
        # the unmentioned message was never delivered, so nothing else arrives
        assert await sandbox.next_reply(timeout=0.3) is None


async def test_state_dir_option_keeps_the_pairing_store(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    steps = parse_script("> hi\n< Pairing code\n/approve\n> again\n< ^again$\n")
    async with Sandbox(state_dir=tmp_path / "kept") as sandbox:
        report = await run_script(sandbox, steps, step_timeout=10)
    assert report.ok, report.failure
    assert (tmp_path / "kept" / "logs").is_dir()
    # A second run with the same state dir: the user is already approved.
    async with Sandbox(state_dir=tmp_path / "kept") as sandbox:
        report = await run_script(sandbox, parse_script("> back\n< ^back$\n"), step_timeout=10)
    assert report.ok, report.failure


def test_unknown_channel_and_bad_script_errors() -> None:
    with pytest.raises(SandboxError, match="no sandbox simulator for channel 'telegram'"):
        Sandbox("telegram")
    with pytest.raises(ScriptError, match="'>' needs the text"):
        parse_script(">\n")


# -- interactive ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_person_pairs_approves_and_chats(clean_env: dict[str, str]) -> None:
    term = Terminal(clean_env)
    try:
        term.expect("/quit")  # the help text: the sandbox is ready
        term.send("xin chào")
        term.expect("Pairing code: ")
        term.send("/approve")
        term.expect("operator: approved zalo sender 6011223344556677")
        term.send("hello bot")
        term.expect("bot> hello bot")
        term.send("/group are you there")
        term.expect("use /mention")
        term.send("/mention are you there")
        term.expect("bot (group)> ")
        term.expect("are you there\n")
        term.send("/quit")
        term.expect("sandbox stopped")
    finally:
        code = term.close()
    assert code == 0, term.seen


def test_an_unknown_script_name_lists_the_bundled_ones(
    clean_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["sandbox", "--script", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no script 'nope'" in err
    assert "group, pairing, zalooa, zalouser" in err
