"""Which asyncio event loop the gateway process runs on.

The gateway spends most of its CPU in its HTTP layers (webhook requests in, Bot API and personal
API calls out); ``uvloop`` runs those loop turns and socket calls in C. It is used when it can
be imported, unless ``ZALOGATE_EVENT_LOOP`` says otherwise:

* ``auto`` (default): ``uvloop`` when importable (it has no Windows build), else asyncio's loop;
* ``asyncio``: always asyncio's own loop (to rule the loop out when chasing a problem);
* ``uvloop``: ``uvloop`` or a clear error if it is not installed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal, TypeVar

__all__ = ["EVENT_LOOP_ENV", "EventLoopChoice", "loop_factory", "resolve_event_loop", "run"]

EVENT_LOOP_ENV = "ZALOGATE_EVENT_LOOP"
EventLoopChoice = Literal["uvloop", "asyncio"]

_T = TypeVar("_T")
_CHOICES = ("auto", "asyncio", "uvloop")


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def resolve_event_loop(env: Mapping[str, str] | None = None) -> EventLoopChoice:
    """Return the loop ``run`` would use, from ``ZALOGATE_EVENT_LOOP`` in ``env``.

    Args:
        env: The environment to read; ``None``: ``os.environ``.

    Raises:
        ValueError: The variable holds an unknown value, or asks for ``uvloop`` and it is not
            installed.
    """
    source = os.environ if env is None else env
    wanted = source.get(EVENT_LOOP_ENV, "").strip().lower() or "auto"
    if wanted not in _CHOICES:
        raise ValueError(f"{EVENT_LOOP_ENV}: expected one of {', '.join(_CHOICES)}, got {wanted!r}")
    if wanted == "asyncio":
        return "asyncio"
    if _uvloop_factory() is not None:
        return "uvloop"
    if wanted == "uvloop":
        raise ValueError(f"{EVENT_LOOP_ENV}=uvloop, but uvloop is not installed")
    return "asyncio"


def loop_factory(
    env: Mapping[str, str] | None = None,
) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return a factory for the chosen loop (``None``: asyncio's default), for ``asyncio.Runner``.

    Raises:
        ValueError: As ``resolve_event_loop``.
    """
    if resolve_event_loop(env) == "asyncio":
        return None
    return _uvloop_factory()


def run(main: Coroutine[Any, Any, _T], *, env: Mapping[str, str] | None = None) -> _T:
    """Run ``main`` to completion on the chosen event loop, like ``asyncio.run``.

    Raises:
        ValueError: As ``resolve_event_loop`` (``main`` is closed, not run).
    """
    try:
        factory = loop_factory(env)
    except ValueError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
