"""Scheduled messages in the gateway: the scheduler built from ``schedules.*``, and the
``schedule`` agent tool (a reminder for the user the agent talks to)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from zalogate.agents.services import Send
from zalogate.config import ZalogateConfig, default_account_id
from zalogate.core.agent import AgentTool, FunctionTool
from zalogate.core.model import InboundMessage, ReplyPayload
from zalogate.core.schedules import Schedule, ScheduleError, ScheduleStore, parse_at
from zalogate.runtime.control import ControlUnavailableError
from zalogate.runtime.scheduler import Scheduler, TransientSendError

__all__ = ["build_scheduler", "schedule_tools"]

_TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What to send the user."},
        "at": {
            "type": "string",
            "description": "When: '+10m', 'in 2h', '18:30' or an ISO date-time.",
        },
        "cron": {"type": "string", "description": "Instead of at: a cron expression."},
        "tz": {"type": "string", "description": "IANA time zone (default Asia/Ho_Chi_Minh)."},
    },
    "required": ["message"],
}


def build_scheduler(
    config: Any,
    schedules: ScheduleStore,
    send: Send,
    clock: Callable[[], float],
    poll_interval: float,
) -> Scheduler:
    """The scheduler of ``config.schedules`` on ``schedules``, sending through ``send``."""
    settings = config.schedules if isinstance(config, ZalogateConfig) else None

    async def send_schedule(schedule: Schedule) -> Sequence[str]:
        account = schedule.account_id
        if not account:
            model = config if isinstance(config, ZalogateConfig) else ZalogateConfig()
            account = default_account_id(model, schedule.channel)
        try:
            return await send(
                schedule.channel, account, schedule.target, ReplyPayload(text=schedule.text)
            )
        except ControlUnavailableError as exc:
            raise TransientSendError(str(exc)) from exc

    return Scheduler(
        schedules,
        send_schedule,
        missed=settings.missed if settings is not None else "send",
        min_interval=settings.min_interval_seconds if settings is not None else 1.0,
        poll_interval=poll_interval,
        clock=clock,
    )


def schedule_tools(
    config: Any, schedules: ScheduleStore
) -> Callable[[InboundMessage], Sequence[AgentTool]]:
    """The ``schedule`` tool for each message (reminders go back to its conversation), when
    ``schedules.agentTool`` is on; else no tool."""
    if not (isinstance(config, ZalogateConfig) and config.schedules.agent_tool):
        return lambda _message: ()

    def tools(message: InboundMessage) -> Sequence[AgentTool]:
        target = f"group:{message.chat_id}" if message.is_group else message.chat_id
        return (
            FunctionTool(
                name="schedule",
                description="Send the user a message later (a reminder), once or on a cron.",
                parameters=_TOOL_PARAMETERS,
                function=_adder(schedules, message, target),
            ),
        )

    return tools


def _adder(
    schedules: ScheduleStore, message: InboundMessage, target: str
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def add(args: dict[str, Any]) -> dict[str, Any]:
        tz = str(args.get("tz") or "Asia/Ho_Chi_Minh")
        try:
            at = args.get("at")
            at_ms = parse_at(str(at), tz, schedules.clock()) if at else None
            schedule = await schedules.add(
                message.channel,
                target,
                str(args.get("message") or ""),
                at_ms=at_ms,
                cron=str(args["cron"]) if args.get("cron") else None,
                tz=tz,
                account_id=message.account_id,
                created_by="agent",
            )
        except ScheduleError as exc:
            return {"error": str(exc)}
        return {"scheduled": schedule.id, "nextAtMs": schedule.next_at_ms}

    return add
