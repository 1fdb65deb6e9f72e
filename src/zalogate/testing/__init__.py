"""Public fakes of the services zalogate talks to, for tests, the sandbox and benchmarks.

Names are imported lazily (``from zalogate.testing import FakeZaloBotApi`` loads only that
fake's module). To add a fake: one line in ``_LAZY``, one in ``__all__`` and one under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zalogate.testing.fake_botapi import FakeZaloBotApi
    from zalogate.testing.fake_llm import FakeLLMServer
    from zalogate.testing.fake_oa import FakeZaloOA
    from zalogate.testing.fake_personal import FakeZaloPersonal

_LAZY: dict[str, str] = {
    "FakeZaloBotApi": "zalogate.testing.fake_botapi",
    "FakeLLMServer": "zalogate.testing.fake_llm",
    "FakeZaloPersonal": "zalogate.testing.fake_personal",
    "FakeZaloOA": "zalogate.testing.fake_oa",
}

__all__ = [
    "FakeLLMServer",
    "FakeZaloBotApi",
    "FakeZaloOA",
    "FakeZaloPersonal",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
