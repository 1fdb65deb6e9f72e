"""The console's live log tail: the last lines the gateway logged, redacted."""

from __future__ import annotations

import logging
import threading
from collections import deque

from zalogate.runtime.logging import redact

__all__ = ["LogTail"]

_LINES = 500
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogTail(logging.Handler):
    """A logging handler keeping the last lines (secrets redacted), numbered."""

    def __init__(self, lines: int = _LINES) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        self._lines: deque[tuple[int, str]] = deque(maxlen=lines)
        self._seq = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = redact(self.format(record))
        except Exception:  # a broken record must not break logging
            return
        with self._guard:
            self._seq += 1
            self._lines.append((self._seq, line))

    def since(self, seq: int) -> list[tuple[int, str]]:
        """The lines after number ``seq``, oldest first."""
        with self._guard:
            return [item for item in self._lines if item[0] > seq]

    def attach(self) -> None:
        """Start collecting the ``zalogate`` loggers' lines."""
        logging.getLogger("zalogate").addHandler(self)

    def detach(self) -> None:
        """Stop collecting."""
        logging.getLogger("zalogate").removeHandler(self)
