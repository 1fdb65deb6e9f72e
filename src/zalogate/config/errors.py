"""The one exception the config layer raises: :class:`ConfigError`, carrying every problem."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason as ``"key.path: message"``.

    ``str(error)`` is the problems joined by newlines. Messages never contain secret values.
    """

    def __init__(self, problems: Iterable[str], *, source: str | None = None) -> None:
        unique = list(dict.fromkeys(problems))
        if not unique:
            unique = ["invalid config"]
        super().__init__("\n".join(unique))
        self.problems: list[str] = unique
        self.source = source

    def __str__(self) -> str:
        return "\n".join(self.problems)
