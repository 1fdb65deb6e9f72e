"""The effective config as plain data for display, with every secret replaced by ``***``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretBytes, SecretStr

from zalogate.config.schema import ZalogateConfig

__all__ = ["REDACTED", "redacted_config"]

REDACTED = "***"
# Keys whose string values are secrets even in raw (plugin) sections and env maps.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|apikey|cookies?|zpwenk|zpwsek)$", re.I)


def redacted_config(config: ZalogateConfig) -> dict[str, Any]:
    """``config`` with defaults filled in, camelCase keys, unset values left out, secrets
    shown as ``***``."""
    data = config.model_dump(by_alias=True, exclude_none=True)
    result = _redact(data, "")
    assert isinstance(result, dict)
    return result


def _redact(value: Any, key: str) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, key) for v in value]
    if isinstance(value, str) and key and _SECRET_KEY.search(key.replace("_", "").replace("-", "")):
        return REDACTED
    return value
