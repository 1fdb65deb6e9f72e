"""The options every command shares, defined once: one flag, one wording, one type.

``--config`` is added to every sub-command by :func:`tidy_command` (so it is accepted before or
after the sub-command); ``--json``, ``--channel``, ``--account`` and ``--limit`` are the
annotated types below, used by each command that takes them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from zalogate.cli.state import get_state

__all__ = [
    "ACCOUNT_HELP",
    "CHANNEL_HELP",
    "CONFIG_HELP",
    "JSON_HELP",
    "LIMIT_HELP",
    "AccountOpt",
    "ChannelOpt",
    "JsonOpt",
    "LimitOpt",
    "config_option",
    "tidy_command",
]

JSON_HELP = "Print JSON instead of text."
CHANNEL_HELP = "The channel: an installed one (zalogate plugins list). Default: the configured one."
ACCOUNT_HELP = "The account id (default: the channel's default account)."
LIMIT_HELP = "At most N entries."
CONFIG_HELP = "Config file (JSON5). Default: $ZALOGATE_CONFIG or ~/.zalogate/zalogate.json5."


def _channels() -> list[str]:
    """The installed channels, for shell completion (read only when completing)."""
    from zalogate.cli.channel_access import installed_channel_ids

    return installed_channel_ids()


JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
ChannelOpt = Annotated[
    str | None,
    typer.Option("--channel", metavar="CHANNEL", help=CHANNEL_HELP, autocompletion=_channels),
]
AccountOpt = Annotated[str | None, typer.Option("--account", metavar="ID", help=ACCOUNT_HELP)]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", metavar="N", min=1, help=LIMIT_HELP)]


def _set_config(ctx: Any, _param: Any, value: Path | None) -> None:
    if value is not None:
        get_state(ctx).config_path = value


def _config_carrier(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", metavar="FILE", help=CONFIG_HELP)
    ] = None,
) -> None:
    """Only carries the ``--config`` declaration (typer builds the option from it)."""


def config_option() -> TyperOption:
    """``--config``/``-c`` for a sub-command: overrides the root one when given."""
    carrier = typer.Typer()
    carrier.command()(_config_carrier)
    param = next(p for p in typer.main.get_command(carrier).params if p.name == "config")
    assert isinstance(param, TyperOption)
    param.expose_value = False  # the value goes to the shared state, not to the command
    param.callback = _set_config
    return param


_SENTENCE_END = re.compile(r"(?<=[a-z0-9)])\. (?=[A-Z])")  # not "e.g. after"

_SHARED: dict[str, tuple[str | None, str]] = {
    "--json": (None, JSON_HELP),
    "--channel": ("CHANNEL", CHANNEL_HELP),
    "--account": ("ID", ACCOUNT_HELP),
}


def _no_type(*_args: Any, **_kwargs: Any) -> None:
    return None


def tidy_command(command: Any) -> None:
    """Give ``command`` and every sub-command ``--config``, plain help, readable metavars and
    the shared wording of ``--json``, ``--channel`` and ``--account``.

    Plain help: click's aligned text (rich panels cut sentences in narrow terminals). Metavars:
    ``FILE``, ``N``, the parameter name -- never a Python type (``<str>``, ``<list[str]>``) or a
    range (``[x>=0]``: the error says it when a value is out of range).
    """
    command.rich_markup_mode = None
    if not command.short_help and command.help:
        # The whole first sentence: click would cut it at ~45 characters with "...".
        first = " ".join(command.help.strip().split("\n\n")[0].split())
        command.short_help = _SENTENCE_END.split(first)[0].rstrip(".") + "."
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            tidy_command(sub)
        if not command.params:
            return  # a plain group: its sub-commands carry the options
    names = {opt for param in command.params for opt in getattr(param, "opts", [])}
    if "--config" not in names:
        command.params.insert(len(command.params), config_option())
    for param in command.params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            param.metavar = param.metavar.strip("[]")
            # The argument's help says what it is; typer would add its Python type (<str>).
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 - instance override
        elif isinstance(param, TyperOption):
            # One wording per shared option, also for commands that declare their own.
            for flag, (metavar, wording) in _SHARED.items():
                if flag in param.opts:
                    param.help = wording
                    param.metavar = metavar
            if not param.is_flag and param.metavar is None:
                number = param.type_descriptor.annotation in (int, float)
                long = next((o for o in param.opts if o.startswith("--")), param.name or "value")
                param.metavar = "N" if number else long.lstrip("-").replace("-", "_").upper()
            # The range (``[x>=0]``) is said by the error when a value is out of it.
            setattr(param, "_get_number_range_help_str", _no_type)  # noqa: B010
