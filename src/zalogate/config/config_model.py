"""The base of every config section: strict, camelCase keys, no input values in errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ConfigModel"]


class ConfigModel(BaseModel):
    """A config section: unknown keys are errors; keys are camelCase (snake_case also works)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        hide_input_in_errors=True,
        validate_default=False,
    )
