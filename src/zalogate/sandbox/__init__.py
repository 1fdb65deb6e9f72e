"""The sandbox: a real gateway wired to a Zalo simulator on 127.0.0.1.

``zalogate sandbox`` uses it to let a person chat as a Zalo user in the terminal, or to
replay a script (:mod:`zalogate.sandbox.script`) without a person. The terminal I/O lives in
``zalogate.cli.sandbox``; this package holds the logic, usable from tests and notebooks::

    async with Sandbox() as sandbox:
        await sandbox.say("xin chào")
        print((await sandbox.next_reply(timeout=10)).text)
"""

from zalogate.sandbox.script import (
    ScriptError,
    ScriptReport,
    ScriptStep,
    StepOutcome,
    parse_script,
    run_script,
)
from zalogate.sandbox.session import Sandbox, sandbox_config_data
from zalogate.sandbox.simulators import (
    SIMULATORS,
    BotApiSimulator,
    BotReply,
    SandboxError,
    Simulator,
    simulator_for,
)

__all__ = [
    "SIMULATORS",
    "BotApiSimulator",
    "BotReply",
    "Sandbox",
    "SandboxError",
    "ScriptError",
    "ScriptReport",
    "ScriptStep",
    "Simulator",
    "StepOutcome",
    "parse_script",
    "run_script",
    "sandbox_config_data",
    "simulator_for",
]
