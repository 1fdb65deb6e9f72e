"""Key paths and readable messages for config problems (pydantic errors included)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "KeyPath",
    "Problem",
    "describe_validation_error",
    "format_path",
    "in_file_order",
    "problem",
]

KeyPath = tuple[str | int, ...]


class Problem(NamedTuple):
    """One problem at a key path; ``str()`` gives ``key.path: message``."""

    path: KeyPath
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def format_path(path: Sequence[str | int]) -> str:
    """``("channels", "zalo", "allowFrom", 0)`` -> ``channels.zalo.allowFrom[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<root>"


def problem(path: Sequence[str | int], message: str) -> Problem:
    """One problem at ``path``."""
    return Problem(tuple(path), message)


def in_file_order(problems: Iterable[Problem], data: Any) -> list[str]:
    """Problem lines sorted by where their key is written in ``data`` (the parsed file).

    A key that is not written (a missing or a cross-key problem) sorts with its nearest
    written parent; ties keep the order in which the problems were found.
    """
    positions: dict[KeyPath, int] = {}

    def walk(node: Any, path: KeyPath) -> None:
        positions[path] = len(positions)
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(data, ())

    def position(item: Problem) -> int:
        path = item.path
        while path not in positions:
            path = path[:-1]
        return positions[path]

    return [str(p) for p in sorted(problems, key=position)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _known_keys(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys the schema allows at ``path`` (for "did you mean" hints)."""
    current: Any = model
    for part in path:
        current = _child_type(current, part)
        if current is None:
            return []
    for candidate in _unwrap(current):  # ``ZaloConfig | None``: the model in the union
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [f.alias or name for name, f in candidate.model_fields.items()]
    return []


def _child_type(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, int):
                continue
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
            continue
        origin = getattr(candidate, "__origin__", None)
        args: tuple[Any, ...] = tuple(getattr(candidate, "__args__", ()))
        if origin is dict and len(args) == 2:
            return args[1]
        if origin is list and args and isinstance(part, int):
            return args[0]
    return None


def _unwrap(annotation: Any) -> Iterable[Any]:
    args = getattr(annotation, "__args__", None)
    origin = getattr(annotation, "__origin__", None)
    if args and origin not in (dict, list):
        # Optional[...] / unions: try each member.
        for arg in args:
            yield from _unwrap(arg)
        return
    yield annotation


def _message(error: ErrorDetails, model: type[BaseModel], loc: KeyPath) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = loc[-1] if loc else ""
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]} (got {_json_type(error.get('input'))})"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {symbol} {bound}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    return str(error["msg"])


def describe_validation_error(
    exc: ValidationError, model: type[BaseModel], *, prefix: KeyPath = ()
) -> list[tuple[KeyPath, str]]:
    """Every error of ``exc`` as ``(key path, message)``, without input values."""
    described: list[tuple[KeyPath, str]] = []
    for error in exc.errors(include_url=False, include_input=True):
        loc: KeyPath = tuple(error["loc"])
        described.append((prefix + loc, _message(error, model, loc)))
    return described
