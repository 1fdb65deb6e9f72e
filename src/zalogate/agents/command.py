"""An agent that runs a program per turn: JSON turn on stdin, replies on stdout.

The program gets :meth:`Turn.to_json` as one JSON object on stdin and answers on stdout with
either ``{"replies": [{"text": "...", "mediaUrls": ["https://..."]}, ...]}`` or plain text (the
whole output, stripped, is one reply; empty output means no reply). A non-zero exit status or
a timeout (the program is killed) raises :class:`~zalogate.agents.base.AgentError`, so the
inbox retries the message. The program inherits the gateway's environment plus ``env``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zalogate.agents.base import AgentError, Turn
from zalogate.core.model import ReplyPayload

__all__ = ["CommandAgent", "CommandAgentOptions", "parse_command_output"]

log = logging.getLogger(__name__)

_STDERR_TAIL = 300


@dataclass(frozen=True, slots=True)
class CommandAgentOptions:
    """Settings of :class:`CommandAgent` (``agent.command`` in the config)."""

    argv: Sequence[str]
    timeout_seconds: float = 60.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("the command agent needs a program (argv)")


def parse_command_output(stdout: str) -> list[ReplyPayload]:
    """Turn a program's stdout into reply payloads (JSON ``replies`` or plain text)."""
    text = stdout.strip()
    if not text:
        return []
    if text.startswith("{"):
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("replies"), list):
            replies: list[ReplyPayload] = []
            for item in data["replies"]:
                if isinstance(item, str):
                    item = {"text": item}
                if not isinstance(item, dict):
                    raise AgentError("each reply must be an object or a string")
                media = item.get("mediaUrls") or item.get("media_urls") or []
                if item.get("mediaUrl"):
                    media = [item["mediaUrl"], *media]
                if not isinstance(media, list) or not all(isinstance(u, str) for u in media):
                    raise AgentError("mediaUrls must be a list of strings")
                reply = ReplyPayload(text=str(item.get("text") or ""), media_urls=tuple(media))
                if reply.text or reply.media_urls:
                    replies.append(reply)
            return replies
    return [ReplyPayload(text=text)]


class CommandAgent:
    """Runs ``options.argv`` once per turn (see the module docs for the protocol)."""

    def __init__(self, options: CommandAgentOptions) -> None:
        self.options = options

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """Run the program and yield its replies."""
        for reply in await self._run(turn):
            yield reply

    async def _run(self, turn: Turn) -> list[ReplyPayload]:
        opts = self.options
        program = os.path.basename(opts.argv[0])
        env = {**os.environ, **opts.env} if opts.env else None
        try:
            process = await asyncio.create_subprocess_exec(
                *opts.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=opts.cwd,
            )
        except OSError as exc:
            raise AgentError(f"could not start {program}: {exc.strerror or exc}") from None
        stdin = json.dumps(turn.to_json(), ensure_ascii=False).encode()
        try:
            async with asyncio.timeout(opts.timeout_seconds):
                stdout, stderr = await process.communicate(stdin)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            log.error("command agent: %s timed out after %.1fs", program, opts.timeout_seconds)
            raise AgentError(f"{program} timed out after {opts.timeout_seconds:g}s") from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
            log.error("command agent: %s exited with %s: %s", program, process.returncode, tail)
            raise AgentError(f"{program} exited with status {process.returncode}")
        return parse_command_output(stdout.decode(errors="replace"))
