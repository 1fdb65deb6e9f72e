"""Which values of a config (or an account's settings) are secrets, for the log redaction."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import is_dataclass
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from zalogate.config.urls import url_password
from zalogate.runtime.logging import register_secret

__all__ = ["collect_secrets", "register_secret_values"]

_SECRET_FIELD = re.compile(
    r"(token|secret|password|passwd|apikey|cookie|cookies|zpwenk|zpwsek|secretkey)$", re.I
)


def collect_secrets(obj: Any, *, _key: str = "", _depth: int = 0) -> set[str]:
    """Every string in ``obj`` (a config model, dataclass, mapping, list) in a secret field.

    A field counts when its name ends in ``token``, ``secret``, ``password``, ``apiKey``,
    ``cookie(s)``, ``zpw_enk``/``zpw_sek`` (case and ``_`` ignored); pydantic ``SecretStr``
    values count wherever they are, and so does the password of a URL's ``user:password@``.
    """
    found: set[str] = set()
    if _depth > 12 or obj is None:
        return found
    if isinstance(obj, SecretStr | SecretBytes):
        value = obj.get_secret_value()
        found.add(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        return found
    if isinstance(obj, str):
        if _key and _SECRET_FIELD.search(_key.replace("_", "").replace("-", "")):
            found.add(obj)
        elif (password := url_password(obj)) is not None:
            found.add(password)  # a NATS server or proxy URL with user:password@
        return found
    children: list[tuple[str, Any]] = []
    if isinstance(obj, BaseModel):
        fields = type(obj).model_fields
        children = [(f.alias or name, getattr(obj, name, None)) for name, f in fields.items()]
        children += list((obj.model_extra or {}).items())
    elif is_dataclass(obj) and not isinstance(obj, type):
        children = [(name, getattr(obj, name, None)) for name in obj.__dataclass_fields__]
    elif isinstance(obj, SimpleNamespace):
        children = list(vars(obj).items())
    elif isinstance(obj, Mapping):
        children = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple | set | frozenset):
        # A list under a secret key (cookies) is secret as a whole.
        children = [(_key, item) for item in obj]
    for key, value in children:
        found |= collect_secrets(value, _key=key, _depth=_depth + 1)
    return found


def register_secret_values(obj: Any) -> None:
    """Register every secret-looking value in ``obj`` with the log redaction."""
    for secret in collect_secrets(obj):
        register_secret(secret)
