"""What an agent backend is: it gets a :class:`Turn` and yields ``ReplyPayload`` s.

The types are defined in :mod:`zalogate.core.agent` (the pipeline builds turns) and
re-exported here for agent authors.
"""

from __future__ import annotations

from zalogate.core.agent import Agent, AgentError, AgentTool, FunctionTool, Turn

__all__ = ["Agent", "AgentError", "AgentTool", "FunctionTool", "Turn"]
