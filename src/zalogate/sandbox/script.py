"""Sandbox scripts: a conversation written down, replayed without a person.

The format has one step per line; blank lines and lines starting with ``#`` are ignored::

    # the pairing flow, then the echo agent
    > xin chào                    the user writes to the bot (direct chat)
    < Pairing code: [A-Z2-9]{8}   the bot's next reply must match this regular expression
    /approve                      approve the user's pending pairing request (the operator)
    > hello                       ...
    < ^hello$
    /mention some text            the user writes in a group, mentioning the bot
    /group some text              the user writes in the group, without mentioning the bot
    /history Sandbox User: some   the group's pending history must match this expression
    /history                      the group has no pending history (the bot answered with it)
    /timeout 2.5                  wait up to 2.5 s for each following expected reply

``<`` takes the bot's next reply that no earlier ``<`` took, and searches it with Python's
:func:`re.search` (add ``^``/``$`` to match it whole); it fails when no reply arrives within
the step timeout. ``/history`` looks at the group messages the bot did not answer, which the
gateway keeps to put before the next group message it answers: one ``Sender: text`` line per
message, searched like ``<``; it waits up to the step timeout for the gateway to get there.
The first failing step ends the replay.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from zalogate.sandbox.session import Sandbox
from zalogate.sandbox.simulators import BotReply, SandboxError

__all__ = [
    "ScriptError",
    "ScriptReport",
    "ScriptStep",
    "StepOutcome",
    "parse_script",
    "run_script",
]

StepKind = Literal["say", "expect", "approve", "group", "mention", "history", "timeout"]

_COMMANDS: dict[str, StepKind] = {
    "/approve": "approve",
    "/group": "group",
    "/history": "history",
    "/mention": "mention",
    "/timeout": "timeout",
}


_HISTORY_POLL = 0.05


class ScriptError(ValueError):
    """A script line could not be understood; the message names the line."""


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One line of a script."""

    line: int
    kind: StepKind
    text: str = ""
    pattern: re.Pattern[str] | None = None
    seconds: float | None = None

    def describe(self) -> str:
        """The step as written in the script."""
        if self.kind == "say":
            return f"> {self.text}"
        if self.kind == "expect":
            return f"< {self.text}"
        if self.kind == "approve":
            return "/approve"
        if self.kind in ("timeout", "history"):
            return f"/{self.kind} {self.text}".rstrip()
        return f"/{self.kind} {self.text}"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one step went."""

    step: ScriptStep
    ok: bool
    detail: str = ""
    reply: BotReply | None = None


@dataclass(slots=True)
class ScriptReport:
    """The outcome of a replay: ``ok`` when every step passed."""

    outcomes: list[StepOutcome] = field(default_factory=list)
    total_steps: int = 0

    @property
    def ok(self) -> bool:
        """True when every step ran and passed."""
        return len(self.outcomes) == self.total_steps and all(o.ok for o in self.outcomes)

    @property
    def failure(self) -> StepOutcome | None:
        """The failing step, if any."""
        return next((o for o in self.outcomes if not o.ok), None)


def parse_script(text: str, *, source: str = "<script>") -> list[ScriptStep]:
    """Parse a sandbox script.

    Raises:
        ScriptError: A line is not a step, or a pattern is not a valid regular expression.
    """
    steps: list[ScriptStep] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        if line.startswith(">"):
            body = line[1:].strip()
            if not body:
                raise ScriptError(f"{where}: '>' needs the text the user writes")
            steps.append(ScriptStep(number, "say", body))
        elif line.startswith("<"):
            body = line[1:].strip()
            if not body:
                raise ScriptError(f"{where}: '<' needs a regular expression")
            steps.append(ScriptStep(number, "expect", body, _pattern(body, where)))
        elif line.startswith("/"):
            name, _, rest = line.partition(" ")
            kind = _COMMANDS.get(name.lower())
            if kind is None:
                known = ", ".join(_COMMANDS)
                raise ScriptError(f"{where}: unknown command {name!r} (known: {known})")
            rest = rest.strip()
            if kind == "approve" and rest:
                raise ScriptError(f"{where}: /approve takes no argument")
            if kind == "timeout":
                steps.append(ScriptStep(number, kind, rest, seconds=_seconds(rest, where)))
                continue
            if kind == "history":
                pattern = _pattern(rest, where) if rest else None
                steps.append(ScriptStep(number, kind, rest, pattern))
                continue
            if kind != "approve" and not rest:
                raise ScriptError(f"{where}: {name} needs the text the user writes")
            steps.append(ScriptStep(number, kind, rest))
        else:
            raise ScriptError(
                f"{where}: a step starts with '>' (say), '<' (expect), '/approve', '/mention',"
                f" '/group', '/history' or '/timeout': {line!r}"
            )
    if not steps:
        raise ScriptError(f"{source}: the script has no steps")
    return steps


def _pattern(raw: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(raw)
    except re.error as exc:
        raise ScriptError(f"{where}: bad regular expression {raw!r}: {exc}") from exc


def _seconds(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ScriptError(f"{where}: /timeout needs a number of seconds (0-3600), not {raw!r}")
    return value


async def run_script(
    sandbox: Sandbox,
    steps: list[ScriptStep],
    *,
    step_timeout: float = 10.0,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> ScriptReport:
    """Replay ``steps`` against a running sandbox; stop at the first failing step."""
    report = ScriptReport(total_steps=len(steps))
    for step in steps:
        if step.kind == "timeout" and step.seconds is not None:
            step_timeout = step.seconds
        outcome = await _run_step(sandbox, step, step_timeout)
        report.outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)
        if not outcome.ok:
            break
    return report


async def _run_step(sandbox: Sandbox, step: ScriptStep, step_timeout: float) -> StepOutcome:
    if step.kind == "say":
        await sandbox.say(step.text)
        return StepOutcome(step, True)
    if step.kind in ("group", "mention"):
        note = await sandbox.say_in_group(step.text, mention=step.kind == "mention")
        return StepOutcome(step, True, note or "")
    if step.kind == "timeout":
        return StepOutcome(step, True, f"expected replies now wait up to {step_timeout:g} s")
    if step.kind == "history":
        return await _check_history(sandbox, step, step_timeout)
    if step.kind == "approve":
        try:
            request = await sandbox.approve(wait=step_timeout)
        except SandboxError as exc:
            return StepOutcome(step, False, str(exc))
        return StepOutcome(step, True, f"approved {request.id} (code {request.code})")
    pattern = step.pattern or re.compile(re.escape(step.text))
    started = time.monotonic()
    reply = await sandbox.next_reply(step_timeout)
    if reply is None:
        return StepOutcome(
            step, False, f"no reply within {step_timeout:g} s (expected /{step.text}/)"
        )
    if pattern.search(reply.text) is None:
        return StepOutcome(
            step, False, f"expected a reply matching /{step.text}/, got {reply.text!r}", reply
        )
    took = time.monotonic() - started
    return StepOutcome(step, True, f"after {took:.2f} s", reply)


async def _check_history(sandbox: Sandbox, step: ScriptStep, step_timeout: float) -> StepOutcome:
    """Wait until the group's pending history matches ``step`` (or is empty without one)."""
    deadline = time.monotonic() + step_timeout
    while True:
        lines = [f"{e.sender}: {e.body}" for e in await sandbox.group_history()]
        text = "\n".join(lines)
        if step.pattern is None and not lines:
            return StepOutcome(step, True, "no group history pending")
        if step.pattern is not None and step.pattern.search(text):
            count = f"{len(lines)} message{'s' if len(lines) != 1 else ''}"
            return StepOutcome(step, True, f"group history: {count} pending, {text!r}")
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(_HISTORY_POLL)
    got = repr(text) if lines else "nothing"
    wanted = f"matching /{step.text}/" if step.pattern is not None else "none"
    return StepOutcome(
        step, False, f"expected group history {wanted} within {step_timeout:g} s, pending: {got}"
    )
