"""Channel accounts: id normalisation, top-level defaults merged into ``accounts.<id>``,
the implicit ``zalo`` default account, and the default-account rule.

A channel whose section is not written has no accounts, except ``zalo``: when
``$ZALO_BOT_TOKEN`` (trimmed) is set it has one ``default`` account with every setting at its
default (``zalo-bot-api.md`` §5.2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretBytes, SecretStr

if TYPE_CHECKING:
    from zalogate.config.schema import ZalogateConfig

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "AccountLayout",
    "ResolvedAccount",
    "default_account_id",
    "layout_accounts",
    "normalize_account_id",
    "plain_section",
    "resolve_accounts",
]

DEFAULT_ACCOUNT_ID = "default"
_INVALID_CHARS = re.compile(r"[^a-z0-9_-]+")
_MAX_ID_LENGTH = 64
_NOT_INHERITED = ("accounts", "defaultAccount")


def normalize_account_id(raw: str | None) -> str:
    """Trim, lower-case, turn runs of invalid characters into ``-``, drop edge dashes, cap at
    64 characters; an empty result is ``default``.

    >>> normalize_account_id("  Work Phone ")
    'work-phone'
    """
    text = (raw or "").strip().lower()
    text = _INVALID_CHARS.sub("-", text).strip("-")
    text = text[:_MAX_ID_LENGTH].strip("-")
    return text or DEFAULT_ACCOUNT_ID


@dataclass(frozen=True, slots=True)
class ResolvedAccount:
    """One account of a channel with its merged settings (see :func:`resolve_accounts`).

    ``settings``/``own``/``base`` hold secrets as plain strings, so they stay out of ``repr``.
    """

    channel: str
    account_id: str
    enabled: bool
    is_default: bool
    settings: dict[str, Any] = field(repr=False)
    own: dict[str, Any] = field(repr=False)
    base: dict[str, Any] = field(repr=False)
    name: str | None = None


@dataclass(slots=True)
class AccountLayout:
    """How a channel section splits into accounts (shared by resolution and validation)."""

    base: dict[str, Any]
    own: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Normalised id -> the keys written under ``accounts.<key>`` (empty when implicit)."""
    keys: dict[str, str | None] = field(default_factory=dict)
    """Normalised id -> the key as written (``None`` for an implicit account)."""
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)
    """``(id, first key, second key)`` for keys that normalise to the same id."""
    default_id: str = DEFAULT_ACCOUNT_ID
    default_account_missing: bool = False
    """``defaultAccount`` names no account."""

    def ordered_ids(self) -> list[str]:
        """Default account first, then the others sorted."""
        rest = sorted(i for i in self.own if i != self.default_id)
        return ([self.default_id] if self.default_id in self.own else []) + rest


def _without_nulls(mapping: Mapping[str, Any]) -> dict[str, Any]:
    # A JSON null means "not set": it must not override an inherited value.
    return {str(k): v for k, v in mapping.items() if v is not None}


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def layout_accounts(
    channel: str, section: Mapping[str, Any], env: Mapping[str, str]
) -> AccountLayout:
    """Split a (plain, camelCase) channel section into its accounts.

    With no (or an empty) ``accounts`` map there is one ``default`` account. For ``zalo`` an
    implicit ``default`` account also exists next to an ``accounts`` map when a top-level
    ``botToken``/``tokenFile`` or ``$ZALO_BOT_TOKEN`` is present. The default account is
    ``defaultAccount`` if set, else ``default`` if present, else the first id in sorted order.
    """
    base = _without_nulls({k: v for k, v in section.items() if k not in _NOT_INHERITED})
    layout = AccountLayout(base=base)
    accounts = section.get("accounts")
    if isinstance(accounts, Mapping):
        for key, entry in accounts.items():
            account_id = normalize_account_id(str(key))
            if account_id in layout.own:
                layout.duplicates.append((account_id, str(layout.keys[account_id]), str(key)))
                continue
            layout.own[account_id] = _without_nulls(entry) if isinstance(entry, Mapping) else {}
            layout.keys[account_id] = str(key)
    if not layout.own or (
        channel == "zalo"
        and DEFAULT_ACCOUNT_ID not in layout.own
        and (
            _present(base.get("botToken"))
            or _present(base.get("tokenFile"))
            or _present(env.get("ZALO_BOT_TOKEN"))
        )
    ):
        layout.own[DEFAULT_ACCOUNT_ID] = {}
        layout.keys[DEFAULT_ACCOUNT_ID] = None

    wanted = section.get("defaultAccount")
    if _present(wanted):
        wanted_id = normalize_account_id(str(wanted))
        if wanted_id in layout.own:
            layout.default_id = wanted_id
            return layout
        layout.default_account_missing = True
    if DEFAULT_ACCOUNT_ID in layout.own:
        layout.default_id = DEFAULT_ACCOUNT_ID
    else:
        layout.default_id = sorted(layout.own)[0]
    return layout


def plain_section(value: Any) -> Any:
    """A config model (or part of one) as plain data: written keys only, camelCase, secrets
    as plain strings."""
    if isinstance(value, BaseModel):
        return plain_section(value.model_dump(by_alias=True, exclude_unset=True))
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): plain_section(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_section(v) for v in value]
    return value


def _channel_section(config: ZalogateConfig, channel: str) -> dict[str, Any] | None:
    channels = config.channels
    if channel in ("zalo", "zalouser"):
        model = getattr(channels, channel)
        return None if model is None else dict(plain_section(model))
    raw = channels.plugin_section(channel)
    return None if raw is None else dict(plain_section(raw))


def _env_of(config: ZalogateConfig, env: Mapping[str, str] | None) -> Mapping[str, str]:
    if env is not None:
        return env
    loaded = config._env
    return loaded if loaded is not None else os.environ


def _implicit_section(channel: str, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The section an unwritten channel behaves as: ``{}`` for ``zalo`` when
    ``$ZALO_BOT_TOKEN`` is set (its implicit ``default`` account), else None (no accounts)."""
    if channel == "zalo" and _present(env.get("ZALO_BOT_TOKEN")):
        return {}
    return None


def resolve_accounts(
    config: ZalogateConfig, channel: str, *, env: Mapping[str, str] | None = None
) -> list[ResolvedAccount]:
    """Every account of ``channel`` (enabled or not), the default account first.

    ``settings`` is the top-level channel keys (minus ``accounts``/``defaultAccount``)
    overlaid by ``accounts.<id>``, camelCase as written, secrets as plain strings, defaults
    not filled in. A channel whose section is not written has no accounts, except ``zalo``
    with ``$ZALO_BOT_TOKEN`` set: one ``default`` account, every setting at its default.

    Args:
        config: The validated config.
        channel: ``zalo``, ``zalouser`` or a plugin id.
        env: For the implicit ``zalo`` default account (``ZALO_BOT_TOKEN``); default: the
            environment the config was loaded with.
    """
    environ = _env_of(config, env)
    section = _channel_section(config, channel)
    if section is None:
        section = _implicit_section(channel, environ)
        if section is None:
            return []
    layout = layout_accounts(channel, section, environ)
    channel_enabled = layout.base.get("enabled") is not False
    resolved: list[ResolvedAccount] = []
    for account_id in layout.ordered_ids():
        own = dict(layout.own[account_id])
        settings = {**layout.base, **own}
        name = settings.get("name")
        resolved.append(
            ResolvedAccount(
                channel=channel,
                account_id=account_id,
                enabled=channel_enabled and own.get("enabled") is not False,
                is_default=account_id == layout.default_id,
                settings=settings,
                own=own,
                base=dict(layout.base),
                name=name.strip() or None if isinstance(name, str) else None,
            )
        )
    return resolved


def default_account_id(config: ZalogateConfig, channel: str) -> str:
    """The id of ``channel``'s default account (``default`` when the channel is not written)."""
    section = _channel_section(config, channel)
    if section is None:
        return DEFAULT_ACCOUNT_ID
    return layout_accounts(channel, section, _env_of(config, None)).default_id
