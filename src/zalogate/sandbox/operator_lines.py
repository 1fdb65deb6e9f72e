"""What the sandbox tells the person at the terminal that the gateway only logs.

The sandbox's log lives in a temporary folder that is gone afterwards; these records are
worth a line on the screen: why the agent failed (the user only sees the apology) and why a
group message got no answer (dropped by ``groupPolicy``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from zalogate.runtime.logging import redact

__all__ = ["operator_lines"]

_AGENTS = "zalogate.agents"
_PIPELINE = "zalogate.core.pipeline"


class _OperatorLines(logging.Handler):
    def __init__(self, info: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self._info = info

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._line(record)
            if line is not None:
                self._info(redact(line))
        except Exception:  # a display problem must never break the gateway
            self.handleError(record)

    @staticmethod
    def _line(record: logging.LogRecord) -> str | None:
        if record.name.startswith(_AGENTS) and record.levelno >= logging.WARNING:
            return f"sandbox: the agent failed: {record.getMessage()}"
        if record.name == _PIPELINE and record.msg.startswith("dropped"):
            reason = str(record.args[-1]) if isinstance(record.args, tuple) else ""
            if reason.startswith("group_policy"):
                return (
                    f"sandbox: the gateway dropped the group message ({reason}): see"
                    " groupPolicy, groups and groupAllowFrom in docs/configuration.md"
                )
        return None


@contextlib.contextmanager
def operator_lines(info: Callable[[str], None]) -> Iterator[None]:
    """Send the agent's failures and groupPolicy drops to ``info`` while inside."""
    handler = _OperatorLines(info)
    pipeline = logging.getLogger(_PIPELINE)
    saved = pipeline.level
    pipeline.setLevel(logging.DEBUG)  # the drop is a debug record
    loggers = [logging.getLogger(_AGENTS), pipeline]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        pipeline.setLevel(saved)
