"""`zalogate sandbox`: chat with a real gateway in the terminal, against a Zalo simulator.

The logic lives in :mod:`zalogate.sandbox`; this module is the terminal: the prompt, the
bot's replies as they arrive, and the report of a ``--script`` replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import json5
import typer

from zalogate.cli.channel_access import channel_alias
from zalogate.cli.errors import CliError
from zalogate.cli.state import err_console, get_state, out_console
from zalogate.config import ConfigError
from zalogate.runtime.logging import redact
from zalogate.sandbox import (
    BotReply,
    Sandbox,
    SandboxError,
    ScriptError,
    ScriptStep,
    StepOutcome,
    parse_script,
    run_script,
)

__all__ = ["HELP_TEXT", "command"]

HELP_TEXT = """\
Type a message and press Enter to send it to the bot as a Zalo user.
  /approve        approve your pending pairing request (as `zalogate pairing approve` does)
  /mention TEXT   write TEXT in a group, mentioning the bot
  /group TEXT     write TEXT in the group without mentioning the bot
  /history        the group messages kept for the bot's next group answer
  /help           this help
  /quit           stop the sandbox (also Ctrl-D)"""

_REPLY_POLL = 0.5
_PROMPT = "you> "
_APPROVE_WAIT = 3.0
"""Seconds /approve waits for the pairing request of a message still being handled."""


def command(
    ctx: typer.Context,
    channel: Annotated[
        str,
        typer.Option(
            "--channel",
            help="The channel to simulate: zalo (Bot API), zalouser (personal account,"
            " with the QR login) or zalooa (Official Account, with the OAuth consent).",
        ),
    ] = "zalo",
    script: Annotated[
        Path | None,
        typer.Option(
            "--script",
            help="Replay a conversation from FILE without a person (see examples/sandbox/).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Use this config's agent and policies (e.g. a real LLM agent)."
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Keep the state here (default: a temporary folder)."),
    ] = None,
    step_timeout: Annotated[
        float,
        typer.Option("--step-timeout", min=0.1, help="Seconds to wait for each expected reply."),
    ] = 10.0,
    console: Annotated[
        bool,
        typer.Option("--console", help="Print a login link to the operator console (/console)."),
    ] = False,
) -> None:
    """Chat with the gateway against a built-in Zalo simulator on 127.0.0.1."""
    name = channel_alias(channel)
    path = config_path or get_state(ctx).config_path
    user_config = _read_user_config(path) if path is not None else None
    steps = None
    if script is not None:
        try:
            steps = parse_script(script.read_text(encoding="utf-8"), source=str(script))
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read the script {script}: {exc}") from exc
        except ScriptError as exc:
            raise CliError(str(exc), exit_code=2) from exc
    try:
        sandbox = Sandbox(
            name,
            user_config=user_config,
            config_source=str(path) if path is not None else "<sandbox>",
            state_dir=state_dir.expanduser() if state_dir is not None else None,
            info=lambda line: out_console.print(line, markup=False),
        )
    except SandboxError as exc:
        raise CliError(str(exc)) from exc
    try:
        if script is not None and steps is not None:
            ok = asyncio.run(_replay(sandbox, steps, step_timeout, script))
            if not ok:
                raise typer.Exit(1)
        else:
            asyncio.run(_chat(sandbox, console=console))
    except ConfigError as exc:
        _print_problems(exc.problems)
        raise CliError("the sandbox config is invalid") from exc
    except SandboxError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(redact(str(exc))) from exc


def _read_user_config(path: Path) -> dict[str, Any]:
    try:
        data = json5.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read the config {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CliError(f"{path}: not valid JSON5: {exc}") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path}: the config must be an object ({{...}})")
    return data


def _print_problems(problems: list[str]) -> None:
    err_console.print("[red]The config is invalid:[/red]", markup=True)
    for problem in problems:
        err_console.print(f"  - {problem}", markup=False)


# -- script replay ----------------------------------------------------------------------


async def _replay(
    sandbox: Sandbox, steps: list[ScriptStep], step_timeout: float, script: Path
) -> bool:
    async with sandbox:
        out_console.print(
            f"sandbox: replaying {script} ({len(steps)} steps, agent {sandbox.agent_name},"
            f" {step_timeout:g} s per expected reply)",
            markup=False,
        )
        report = await run_script(sandbox, steps, step_timeout=step_timeout, on_step=_print_step)
    if report.ok:
        out_console.print(f"sandbox: all {report.total_steps} steps passed", markup=False)
        return True
    failure = report.failure
    ran = len(report.outcomes)
    err_console.print(f"sandbox: FAILED at step {ran} of {report.total_steps}", markup=False)
    if failure is not None:
        err_console.print(f"  line {failure.step.line}: {failure.step.describe()}", markup=False)
        if failure.step.kind == "expect":
            err_console.print(f"  - expected: /{failure.step.text}/", markup=False)
            got = repr(failure.reply.text) if failure.reply is not None else "(no reply)"
            err_console.print(f"  + got:      {got}", markup=False)
        else:
            err_console.print(f"  {failure.detail}", markup=False)
    return False


def _print_step(outcome: StepOutcome) -> None:
    mark = "ok  " if outcome.ok else "FAIL"
    line = f"{mark} {outcome.step.line:>3}: {outcome.step.describe()}"
    if outcome.reply is not None:
        line += f"  <- {outcome.reply.text!r}"
    elif outcome.ok and outcome.detail:
        line += f"  ({outcome.detail})"
    out_console.print(line, markup=False)


# -- interactive chat -------------------------------------------------------------------


async def _chat(sandbox: Sandbox, *, console: bool = False) -> None:
    async with sandbox:
        sim = sandbox.simulator
        if console:
            out_console.print(
                f"Operator console (one-time link): {sandbox.console_link()}",
                markup=False,
                soft_wrap=True,
            )
        out_console.print(
            f"[bold]zalogate sandbox[/bold] — channel {sandbox.channel}, agent"
            f" [bold]{sandbox.agent_name}[/bold], gateway {sandbox.gateway.url}",
        )
        out_console.print(
            f"You are the Zalo user {sim.user_name} ({sim.user_id}). Gateway log:"
            f" {sandbox.gateway.log_file}",
            markup=False,
        )
        if sim.bot_name:
            group = sim.group_name or sim.group_id
            out_console.print(
                f"The bot is {sim.bot_name}; /group and /mention write in the group {group}.",
                markup=False,
            )
        out_console.print(HELP_TEXT, markup=False)
        printer = asyncio.create_task(_print_replies(sandbox))
        try:
            await _read_loop(sandbox)
        finally:
            printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await printer
    out_console.print("sandbox stopped", markup=False)


async def _print_replies(sandbox: Sandbox) -> None:
    # On a terminal the prompt is waiting on the current line: print over it, then redraw it.
    redraw = sys.stdin.isatty() and sys.stdout.isatty()
    while True:
        reply = await sandbox.next_reply(_REPLY_POLL)
        if reply is not None:
            _show_reply(reply, redraw_prompt=redraw)


def _show_reply(reply: BotReply, *, redraw_prompt: bool = False) -> None:
    where = " (group)" if reply.in_group else ""
    media = f" [{reply.kind}: {reply.media_url}]" if reply.media_url else ""
    if redraw_prompt:
        sys.stdout.write("\r\x1b[2K")
    out_console.print(f"[bold green]bot{where}>[/bold green] ", end="")
    out_console.print(f"{reply.text}{media}", markup=False)
    if redraw_prompt:
        out_console.print(f"[bold]{_PROMPT}[/bold]", end="")


async def _read_loop(sandbox: Sandbox) -> None:
    while True:
        line = await _read_line(_PROMPT)
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word in ("/quit", "/exit"):
            return
        if word == "/help":
            out_console.print(HELP_TEXT, markup=False)
        elif word == "/approve":
            try:
                request = await sandbox.approve(wait=_APPROVE_WAIT)
            except SandboxError as exc:
                out_console.print(f"[yellow]{exc}[/yellow]")
                continue
            out_console.print(
                f"[cyan]operator:[/cyan] approved {sandbox.channel} sender {request.id}"
                f" (code {request.code}); your next message goes to the agent",
            )
        elif word == "/history":
            await _show_history(sandbox)
        elif word in ("/group", "/mention"):
            if not rest.strip():
                out_console.print(f"[yellow]usage: {word} TEXT[/yellow]")
                continue
            note = await sandbox.say_in_group(rest.strip(), mention=word == "/mention")
            if note:
                out_console.print(f"[yellow]({note})[/yellow]")
        else:
            await sandbox.say(text)  # other /commands go to the bot, as typed in Zalo


async def _show_history(sandbox: Sandbox) -> None:
    entries = await sandbox.group_history()
    if not entries:
        out_console.print("[cyan]group history:[/cyan] nothing pending")
        return
    out_console.print(
        f"[cyan]group history:[/cyan] {len(entries)} pending (put before the next group"
        " message the bot answers)"
    )
    for entry in entries:
        out_console.print(f"  {entry.sender}: {entry.body}", markup=False)


async def _read_line(prompt: str) -> str | None:
    """One line from the terminal, read on a daemon thread so Ctrl-C never waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not future.done():
            future.set_result(value)

    def read() -> None:
        try:
            value: str | None = out_console.input(f"[bold]{prompt}[/bold]")
        except (EOFError, KeyboardInterrupt, OSError):
            value = None
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=read, name="sandbox-input", daemon=True).start()
    return await future
