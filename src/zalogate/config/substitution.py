"""``${VAR}`` substitution in every string value of the raw config.

Only names matching ``[A-Z_][A-Z0-9_]*`` are substituted; ``$${VAR}`` yields the literal text
``${VAR}``; anything else (``${lower}``, a lone ``$``) is left as written. A variable that is
not set, or set to an empty string, is a problem naming the key path and the variable: a
config never silently turns into an empty token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zalogate.config.problems import KeyPath, Problem, problem

__all__ = ["SubstitutionResult", "substitute_env"]

# `$${NAME}` (escaped) or `${NAME}`; the escape must be matched first so it wins.
_PATTERN = re.compile(r"\$\$\{([A-Z_][A-Z0-9_]*)\}|\$\{([A-Z_][A-Z0-9_]*)\}")


@dataclass(slots=True)
class SubstitutionResult:
    """The substituted data, the problems found, and the paths that could not be resolved."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    failed_paths: set[KeyPath] = field(default_factory=set)


def substitute_env(data: Any, env: Mapping[str, str]) -> SubstitutionResult:
    """Return a copy of ``data`` with ``${VAR}`` replaced in every string value (not keys)."""
    result = SubstitutionResult(data=None)
    result.data = _walk(data, (), env, result)
    return result


def _walk(value: Any, path: KeyPath, env: Mapping[str, str], result: SubstitutionResult) -> Any:
    if isinstance(value, str):
        return _substitute(value, path, env, result)
    if isinstance(value, Mapping):
        return {key: _walk(item, (*path, str(key)), env, result) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, (*path, index), env, result) for index, item in enumerate(value)]
    return value


def _substitute(
    text: str, path: KeyPath, env: Mapping[str, str], result: SubstitutionResult
) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "${" + escaped + "}"
        value = env.get(name)
        if value is None or value == "":
            state = "not set" if value is None else "empty"
            result.problems.append(problem(path, f"environment variable {name} is {state}"))
            result.failed_paths.add(path)
            return match.group(0)
        return value

    return _PATTERN.sub(replace, text)
