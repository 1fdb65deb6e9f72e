"""Declared agent tools: each tool (or each action of a tool) is written down once.

A :class:`ToolSpec` holds the parameters, the JSON schema made from them, and the handlers.
It is declared once at import time and bound to live objects whenever tools are offered::

    SEND = ToolSpec(
        name="zalo_send",
        description="Send a Zalo message.",
        params=(
            ToolParam("target", "Chat id", context_default=lambda ctx, args: ctx.target),
            ToolParam("message", "Text to send"),
        ),
        handler=send,                      # async (ToolCall[Channel]) -> Mapping
        requires=("target",),
        channel="zalo",
    )
    tool = SEND.bind(channel, account, context)    # an AgentTool
    await tool.call({"message": "hi"})             # {"ok": True, ...} or {"error": "..."}

A tool with several actions (the ``zalouser`` tool) lists :class:`ToolAction` s instead of one
handler; the schema then gets a required ``action`` enum, and each action names the arguments
it needs::

    ToolSpec(
        name="zalouser",
        description="...",
        params=(ToolParam("threadId", ...), ToolParam("message", ...), ...),
        actions=(ToolAction("send", send, requires=("threadId", "message")), ...),
        channel="zalouser",
    )

Before a handler runs, the arguments are checked against the declaration, and every problem
comes back as ``{"error": ...}`` (never an exception):

* an argument that is not declared: ``unknown parameter 'x' (expected: a, b)``;
* a wrong JSON type: ``isGroup must be a boolean``; a value outside ``enum``:
  ``kind must be one of: a, b``; ``null`` counts as not given;
* a missing (or empty-string) argument that the action requires, after the defaults from the
  current conversation were filled in: ``threadId and message required for send action``
  (naming all of the action's ``requires``, whichever is missing; a tool without actions says
  ``target required``);
* a missing or unknown action: ``action required (one of: send, image)`` /
  ``Unknown action: x``.

Conversation defaults (``context_default``) apply only when the tool is bound to a conversation
of its own ``channel``: a conversation on another channel never chooses a target. A handler
reports a failure by returning ``{"error": ...}`` or raising :class:`ToolError`; any other
exception becomes ``{"error": "<Type>: <message>"}`` and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from zalogate.core.channel import ChannelAccount, ToolContext

__all__ = [
    "BoundTool",
    "JsonType",
    "ToolAction",
    "ToolCall",
    "ToolError",
    "ToolParam",
    "ToolSpec",
]

log = logging.getLogger(__name__)

OwnerT = TypeVar("OwnerT")

JsonType = Literal["string", "boolean", "integer", "number"]
"""The JSON types a tool parameter may have."""

ContextDefault = Callable[[ToolContext, Mapping[str, Any]], Any]
"""``(context, given arguments) -> default`` (``None``: no default)."""

_TYPE_NAMES: dict[str, str] = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
}


class ToolError(Exception):
    """Raised by a handler to answer ``{"error": message, **details}``.

    Args:
        message: What went wrong, for the model (no secrets).
        details: More fields of the error result (``messageIds`` already sent, ...).
    """

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_result(self) -> dict[str, Any]:
        """The error result: ``details`` first, ``error`` last so it always wins."""
        return {**self.details, "error": self.message}


@dataclass(frozen=True, slots=True)
class ToolParam:
    """One argument of a tool.

    Attributes:
        name: The JSON key (camelCase, as the model sees it).
        description: What the argument means, for the model.
        type: Its JSON type.
        enum: The allowed values (strings only), if limited.
        required: Required by every action and listed as ``required`` in the schema. Leave it
            False for arguments that only some actions need or that have a
            ``context_default``; name those in ``requires`` instead.
        context_default: Fills the argument in from the current conversation when the model
            left it out.
    """

    name: str
    description: str = ""
    type: JsonType = "string"
    enum: tuple[str, ...] = ()
    required: bool = False
    context_default: ContextDefault | None = field(default=None, compare=False)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of this argument."""
        schema: dict[str, Any] = {"type": self.type}
        if self.description:
            schema["description"] = self.description
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema

    def check(self, value: Any) -> str | None:
        """The problem with ``value`` (not ``None``), or ``None`` when it fits."""
        fits: bool
        if self.type == "string":
            fits = isinstance(value, str)
        elif self.type == "boolean":
            fits = isinstance(value, bool)
        elif self.type == "integer":
            fits = isinstance(value, int) and not isinstance(value, bool)
        else:
            fits = isinstance(value, int | float) and not isinstance(value, bool)
        if not fits:
            return f"{self.name} must be {_TYPE_NAMES[self.type]}"
        if self.enum and value not in self.enum:
            return f"{self.name} must be one of: {', '.join(self.enum)}"
        return None


@dataclass(frozen=True, slots=True)
class ToolCall(Generic[OwnerT]):
    """What a handler gets: the checked arguments and what the tool is bound to.

    Attributes:
        owner: The object the tool was bound to (usually the channel).
        account: The channel account acting.
        context: The current conversation, or ``None`` (MCP server).
        args: The checked arguments, conversation defaults filled in.
        action: The chosen action (``None`` for a tool without actions).
    """

    owner: OwnerT
    account: ChannelAccount
    context: ToolContext | None
    args: Mapping[str, Any]
    action: str | None = None

    def string(self, name: str) -> str | None:
        """The string argument ``name``, or ``None`` when it was not given."""
        value = self.args.get(name)
        return value if isinstance(value, str) else None

    def boolean(self, name: str, default: bool = False) -> bool:
        """The boolean argument ``name``, or ``default``."""
        value = self.args.get(name)
        return value if isinstance(value, bool) else default

    def integer(self, name: str) -> int | None:
        """The integer argument ``name``, or ``None``."""
        value = self.args.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


Handler = Callable[[ToolCall[OwnerT]], Awaitable[Mapping[str, Any]]]
"""An async function answering one call with a JSON object."""


@dataclass(frozen=True, slots=True)
class ToolAction(Generic[OwnerT]):
    """One action of a multi-action tool.

    Attributes:
        name: The value of the ``action`` argument.
        handler: Runs the action.
        requires: Arguments that must be present (not empty) after defaults are filled in.
        missing_error: The error when one is missing (default, whichever is missing:
            ``"<a> and <b> required for <name> action"`` naming all of ``requires``).
    """

    name: str
    handler: Handler[OwnerT]
    requires: tuple[str, ...] = ()
    missing_error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[OwnerT]):
    """A declared tool: its parameters and either one ``handler`` or several ``actions``.

    Attributes:
        name: The tool name (stable: models and MCP clients call it by this name).
        description: What the tool does, for the model.
        params: The arguments (besides ``action``).
        handler: The handler of a tool without actions.
        requires: Arguments the ``handler`` needs (tools without actions).
        missing_error: The error when one of ``requires`` is missing (default:
            ``"<a> and <b> required"``).
        actions: The actions of a multi-action tool.
        action_description: The description of the ``action`` argument.
        channel: The channel whose conversations ``context_default`` s may read; ``None``:
            any channel.
        title: A human-readable name (MCP clients show it).
    """

    name: str
    description: str
    params: tuple[ToolParam, ...] = ()
    handler: Handler[OwnerT] | None = None
    requires: tuple[str, ...] = ()
    missing_error: str | None = None
    actions: tuple[ToolAction[OwnerT], ...] = ()
    action_description: str = "What to do."
    channel: str | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (not self.actions):
            raise ValueError(f"tool {self.name!r}: give either handler or actions")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"tool {self.name!r}: duplicate parameter names")
        if self.actions and "action" in names:
            raise ValueError(f"tool {self.name!r}: 'action' is reserved for the action enum")
        declared = set(names)
        for needed in (self.requires, *(a.requires for a in self.actions)):
            unknown = [n for n in needed if n not in declared]
            if unknown:
                raise ValueError(f"tool {self.name!r}: requires undeclared {unknown}")

    @property
    def action_names(self) -> tuple[str, ...]:
        """The action names, in declaration order (empty for a tool without actions)."""
        return tuple(a.name for a in self.actions)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments object (no additional properties)."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        if self.actions:
            properties["action"] = {
                "type": "string",
                "enum": list(self.action_names),
                "description": self.action_description,
            }
            required.append("action")
        for param in self.params:
            properties[param.name] = param.schema()
            if param.required:
                required.append(param.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def bind(
        self, owner: OwnerT, account: ChannelAccount, context: ToolContext | None = None
    ) -> BoundTool[OwnerT]:
        """An :class:`~zalogate.core.agent.AgentTool` acting for ``account`` through ``owner``."""
        return BoundTool(self, owner, account, context)

    async def run(
        self,
        owner: OwnerT,
        account: ChannelAccount,
        context: ToolContext | None,
        raw_args: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Check ``raw_args`` and run the handler; every failure is an ``{"error"}`` result."""
        args = dict(raw_args or {})
        by_name = {p.name: p for p in self.params}
        action: ToolAction[OwnerT] | None = None
        if self.actions:
            chosen = args.pop("action", None)
            if chosen is None or chosen == "":
                return {"error": f"action required (one of: {', '.join(self.action_names)})"}
            action = next((a for a in self.actions if a.name == chosen), None)
            if action is None:
                return {"error": f"Unknown action: {chosen}"}
        given: dict[str, Any] = {}
        for name, value in args.items():
            param = by_name.get(name)
            if param is None:
                expected = ", ".join((["action"] if self.actions else []) + list(by_name))
                return {"error": f"unknown parameter {name!r} (expected: {expected})"}
            if value is None:
                continue
            problem = param.check(value)
            if problem is not None:
                return {"error": problem}
            given[name] = value
        checked = dict(given)
        if context is not None and (self.channel is None or context.channel == self.channel):
            for param in self.params:
                if param.context_default is not None and _missing(checked.get(param.name)):
                    default = param.context_default(context, given)
                    if default is not None:
                        checked[param.name] = default
        required = [p.name for p in self.params if p.required]
        if action is not None:
            needed = tuple(dict.fromkeys((*required, *action.requires)))
            if any(_missing(checked.get(n)) for n in needed):
                # One fixed message per action, as OpenClaw's tool answers.
                default_error = f"{_and(needed)} required for {action.name} action"
                return {"error": action.missing_error or default_error}
            handler = action.handler
        else:
            needed = tuple(dict.fromkeys((*required, *self.requires)))
            if any(_missing(checked.get(n)) for n in needed):
                return {"error": self.missing_error or f"{_and(needed)} required"}
            assert self.handler is not None  # __post_init__ guarantees it
            handler = self.handler
        call = ToolCall(owner, account, context, checked, action.name if action else None)
        try:
            result = await handler(call)
        except ToolError as exc:
            return exc.to_result()
        except Exception as exc:  # a tool failure is the model's to handle, not a crash
            log.warning(
                "tool %s%s failed for %s/%s: %s",
                self.name,
                f" ({action.name})" if action else "",
                account.channel,
                account.account_id,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return {"error": f"{type(exc).__name__}: {exc}"}
        return dict(result)


@dataclass(frozen=True, slots=True)
class BoundTool(Generic[OwnerT]):
    """A :class:`ToolSpec` bound to an owner, an account and maybe a conversation.

    It is an :class:`~zalogate.core.agent.AgentTool`.
    """

    spec: ToolSpec[OwnerT]
    owner: OwnerT
    account: ChannelAccount
    context: ToolContext | None = None

    @property
    def name(self) -> str:
        """The tool name."""
        return self.spec.name

    @property
    def description(self) -> str:
        """What the tool does."""
        return self.spec.description

    @property
    def title(self) -> str | None:
        """A human-readable name, if declared."""
        return self.spec.title

    @property
    def parameters(self) -> Mapping[str, Any]:
        """JSON schema of the arguments object."""
        return self.spec.schema()

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run the tool; problems come back as ``{"error": ...}``."""
        return await self.spec.run(self.owner, self.account, self.context, args)


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _and(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"
