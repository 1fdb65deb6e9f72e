"""Reaching a channel from a one-off command (``channels``, ``message``, ``directory``).

One place for what those commands share: which channel plugins are installed (found by
:mod:`zalogate.runtime.plugins`, the one owner of plugin discovery), loading the
config, building a channel outside the gateway (a real :class:`~zalogate.store.Store` in the
state dir, an inbox that refuses messages, no HTTP routes), picking the account, bounding a
call in time, and turning any failure into one redacted line.

Everything a command asks of a channel goes through the typed contract of
:mod:`zalogate.core.channel` (``account_snapshot``, ``aclose``, the ``directory``,
``group_members``, ``login`` and ``links`` capabilities); what it needs to know about a
channel without building it comes from its :class:`~zalogate.core.traits.ChannelTraits`
(aliases, labels, hints) and its plugin's :class:`~zalogate.core.inspection.ConfigInspector`.
Built-in channels are the plugins of the ``zalogate`` distribution; they are listed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import load_runtime_config
from zalogate.cli.state import CliState
from zalogate.config import ResolvedAccount, ZalogateConfig, normalize_account_id, resolve_accounts
from zalogate.core.channel import Admission, Channel, ChannelAccount, ChannelContext
from zalogate.core.model import InboundMessage
from zalogate.core.traits import ChannelTraits, traits_for
from zalogate.runtime.logging import redact, register_secret
from zalogate.runtime.plugins import (
    BUILTIN_DISTRIBUTION,
    InstalledPlugin,
    installed_plugin_ids,
    load_installed_plugins,
    plugin_entry_points,
)
from zalogate.runtime.secrets import collect_secrets
from zalogate.runtime.wiring import cluster_one_off
from zalogate.store import DATABASE_FILENAME, Store

if TYPE_CHECKING:
    from zalogate.oa.tokens import TokenStores

__all__ = [
    "ChannelHandle",
    "InstalledPlugin",
    "bounded",
    "build_channel",
    "builtin_channel_ids",
    "channel_alias",
    "channel_id",
    "choose_channel",
    "close_channel",
    "enabled_account",
    "error_line",
    "find_plugin",
    "installed_channel_ids",
    "installed_plugins",
    "is_channel_name",
    "load_cli_config",
    "open_channel",
    "read_store",
    "resolved_accounts",
]

_TYPE_PREFIX = re.compile(r"^(?:[A-Z]\w*(?:Error|Exception): )+")
_CHANNEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

_T = TypeVar("_T")
log = logging.getLogger("zalogate.cli")


def installed_plugins() -> list[InstalledPlugin]:
    """Every installed channel plugin: the built-in ones first, then the others by id.

    A plugin that fails to load is listed with its error instead of breaking the command.
    """
    first = _builtin_first()
    try:
        found = load_installed_plugins()
    except Exception as exc:  # a broken distribution must not break the CLI
        log.debug("could not read the channel entry points: %s", exc)
        found = []
    return sorted(
        (
            plugin if plugin.error is None else replace(plugin, error=_first_line(plugin.error))
            for plugin in found
            if _CHANNEL_ID.match(plugin.id)
        ),
        key=lambda p: first(p.id),
    )


def installed_channel_ids() -> list[str]:
    """Ids of the installed channel plugins (built-in first), without importing them."""
    try:
        ids = installed_plugin_ids()
    except Exception as exc:  # a broken distribution must not break the CLI
        log.debug("could not read the channel entry points: %s", exc)
        ids = []
    return sorted((i for i in ids if _CHANNEL_ID.match(i)), key=_builtin_first())


def builtin_channel_ids() -> list[str]:
    """Ids of the installed plugins of the built-in (``zalogate``) distribution, sorted."""
    try:
        entries = plugin_entry_points()
    except Exception as exc:  # a broken distribution must not break the CLI
        log.debug("could not read the channel entry points: %s", exc)
        return []
    return sorted(
        plugin_id
        for plugin_id, (distribution, _version, _target) in entries.items()
        if (distribution or "").lower().replace("_", "-") == BUILTIN_DISTRIBUTION
    )


def _builtin_first() -> Callable[[str], tuple[int, str]]:
    """A sort key: the built-in channels first, then the others, each by id."""
    builtin = set(builtin_channel_ids())
    return lambda plugin_id: (0 if plugin_id in builtin else 1, plugin_id)


def _traits(plugin: InstalledPlugin | str) -> ChannelTraits:
    if isinstance(plugin, InstalledPlugin) and plugin.plugin is not None:
        return plugin.plugin.channel_traits
    return traits_for(plugin if isinstance(plugin, str) else plugin.id)


def _aliases(plugins: Sequence[InstalledPlugin | str]) -> dict[str, str]:
    """Short alias -> channel id, from the installed channels' traits (``zl`` -> ``zalo``)."""
    found: dict[str, str] = {}
    for plugin in plugins:
        traits = _traits(plugin)
        for alias in traits.short_aliases:
            found.setdefault(alias, traits.id)
    return found


def channel_alias(raw: str) -> str:
    """``raw`` lower-cased, with an installed channel's short alias replaced by its id."""
    name = raw.strip().lower()
    return _aliases(installed_channel_ids()).get(name, name)


def channel_id(raw: str, plugins: Sequence[InstalledPlugin | str] | None = None) -> str:
    """Normalise a ``--channel`` value (aliases ``zl``/``zlu``) to an installed plugin id.

    Args:
        raw: What the user typed.
        plugins: The installed plugins (or their ids); default: every installed plugin id.

    Raises:
        CliError: No installed plugin has that id.
    """
    installed: Sequence[InstalledPlugin | str] = (
        installed_channel_ids() if plugins is None else plugins
    )
    known = [p if isinstance(p, str) else p.id for p in installed]
    name = raw.strip().lower()
    name = _aliases(installed).get(name, name)
    if name not in known:
        listed = ", ".join(known) or "none is installed"
        raise CliError(f"unknown channel {raw.strip()!r} (installed channels: {listed})")
    return name


def choose_channel(
    config: ZalogateConfig, raw: str | None, plugins: Sequence[InstalledPlugin]
) -> str:
    """``raw`` as a channel id; without it, the one configured channel.

    Raises:
        CliError: ``raw`` is unknown, or none or several channels are configured.
    """
    if raw:
        return channel_id(raw, plugins)
    configured = [p.id for p in plugins if resolved_accounts(config, p.id)]
    if len(configured) == 1:
        return configured[0]
    if not configured:
        names = " or ".join(f"--channel {p.id}" for p in plugins) or "--channel"
        raise CliError(f"no channel is configured; pass {names}")
    raise CliError(f"several channels are configured ({', '.join(configured)}); pass --channel")


def is_channel_name(raw: str) -> bool:
    """Whether ``raw`` names an installed channel or an alias of one (``zl``, ``zlu``)."""
    return channel_alias(raw) in installed_channel_ids()


def load_cli_config(state: CliState) -> tuple[ZalogateConfig, Path]:
    """Load and validate the config (printing every problem) and register its secrets.

    Returns:
        ``(config, state_dir)``.
    """
    config, state_dir = load_runtime_config(state)
    for secret in collect_secrets(config):
        register_secret(secret)
    return config, state_dir


def resolved_accounts(config: ZalogateConfig, channel: str) -> list[ResolvedAccount]:
    """The accounts the config declares for ``channel`` (default first); ``[]`` when none.

    A channel may have a ``default`` account without a section (``zalo``: from
    ``ZALO_BOT_TOKEN``).
    """
    try:
        return resolve_accounts(config, channel)
    except Exception as exc:
        raise CliError(f"channels.{channel}: {error_line(exc)}") from exc


def enabled_account(config: ZalogateConfig, channel: str, account: str | None) -> str:
    """The id of the enabled account ``account`` names (normalised), or of the default one,
    from the config alone (no channel is built).

    Raises:
        CliError: No account is configured, the id is unknown, or the account is disabled.
    """
    chosen = _pick_account(channel, resolved_accounts(config, channel), account)
    if not chosen.enabled:
        raise CliError(
            f"the {channel} account {chosen.account_id!r} is disabled: the gateway does not run it"
        )
    return chosen.account_id


class _Account(Protocol):
    @property
    def account_id(self) -> str: ...


_Acc = TypeVar("_Acc", bound=_Account)


def _pick_account(channel: str, accounts: Sequence[_Acc], account_id: str | None) -> _Acc:
    """The account ``account_id`` names (normalised), else the first (the default) one.

    Raises:
        CliError: No account is configured, or the id is unknown.
    """
    if not accounts:
        hint = traits_for(channel).credentials_hint
        raise CliError(
            f"no {channel} account is configured (add a channels.{channel} section"
            f" to the config{hint})"
        )
    if account_id is None:
        return accounts[0]
    wanted = normalize_account_id(account_id)
    match = [a for a in accounts if a.account_id == wanted]
    if not match:
        known = ", ".join(a.account_id for a in accounts)
        raise CliError(f"unknown {channel} account {account_id.strip()!r} (configured: {known})")
    return match[0]


class _RefusingInbox:
    """One-off commands never monitor an account, so nothing may be admitted."""

    async def admit(self, message: InboundMessage) -> Admission:
        raise RuntimeError("a one-off command does not receive messages")


@dataclass(slots=True)
class ChannelHandle:
    """A channel built for one command, with the pieces it was built from."""

    id: str
    channel: Channel
    config: ZalogateConfig
    state_dir: Path
    store: Store

    def accounts(self) -> Sequence[ChannelAccount]:
        """The channel's accounts (default first)."""
        return self.channel.accounts()

    def account(
        self, account_id: str | None = None, *, require_enabled: bool = True
    ) -> ChannelAccount:
        """The account named ``account_id`` (normalised), else the default account.

        Raises:
            CliError: No account is configured, the id is unknown, or the account is
                disabled while ``require_enabled``.
        """
        chosen = _pick_account(self.id, list(self.channel.accounts()), account_id)
        if require_enabled and not chosen.enabled:
            raise CliError(
                f"the {self.id} account {chosen.account_id!r} is disabled"
                f" (channels.{self.id}.enabled / channels.{self.id}.accounts."
                f"{chosen.account_id}.enabled)"
            )
        return chosen


async def build_channel(
    plugin: InstalledPlugin,
    config: ZalogateConfig,
    state_dir: Path,
    store: Store,
    *,
    token_stores: TokenStores | None = None,
) -> Channel:
    """Create ``plugin``'s channel for a one-off command and register its secrets
    (``token_stores``: the cluster's shared grants, see ``runtime.wiring.cluster_one_off``).

    Raises:
        CliError: The plugin failed to load or to build its channel.
    """
    if plugin.plugin is None:
        raise CliError(f"the {plugin.id} channel plugin failed to load: {plugin.error}")
    context = ChannelContext(
        config=config,
        state_dir=state_dir,
        store=store,
        inbox=_RefusingInbox(),
        routes=None,
        logger=logging.getLogger(f"zalogate.channels.{plugin.id}"),
        token_stores=token_stores,
    )
    try:
        built: Any = plugin.plugin.create(context)
        if asyncio.iscoroutine(built):
            built = await built
        accounts = list(built.accounts())
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"could not set up the {plugin.id} channel: {error_line(exc)}") from exc
    for account in accounts:
        for secret in collect_secrets(account.settings):
            register_secret(secret)
    channel: Channel = built
    return channel


async def close_channel(channel: Channel) -> None:
    """Call the channel's ``aclose()`` (errors are only logged)."""
    try:
        await channel.aclose()
    except Exception as exc:
        log.debug("closing the %s channel failed: %s", channel.id, error_line(exc))


def find_plugin(channel: str, plugins: Sequence[InstalledPlugin]) -> InstalledPlugin:
    """The installed plugin with id ``channel``.

    Raises:
        CliError: It is not installed (the message lists the installed channels).
    """
    for plugin in plugins:
        if plugin.id == channel:
            return plugin
    channel_id(channel, plugins)  # raises with the list of installed channels
    raise CliError(f"unknown channel {channel!r}")  # pragma: no cover - channel_id raised


@contextlib.asynccontextmanager
async def open_channel(
    config: ZalogateConfig,
    state_dir: Path,
    channel: str,
    *,
    plugins: Sequence[InstalledPlugin] | None = None,
    acts: bool = False,
) -> AsyncIterator[ChannelHandle]:
    """Build ``channel`` for a one-off command; close it and the store afterwards.

    In a cluster (``gateway.cluster``) the channel uses the cluster's shared grants when its
    credentials rotate (an OA: never a refresh of its own), and, when the command ``acts``
    from an account's session (sends, look-ups), that is done by the node running the
    account when the channel's traits ask for it (a personal account: never a second
    client), here only while no node holds the account.

    Raises:
        CliError: The plugin is not installed, failed to load or failed to build; or the
            cluster's NATS servers are out of reach.
    """
    plugin = find_plugin(channel, installed_plugins() if plugins is None else plugins)
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(await Store.open(state_dir))
        one_off = cluster_one_off(config, [channel], name=f"zalogate:{channel}", acts=acts)
        try:
            cluster = await stack.enter_async_context(one_off)
        except ConnectionError as exc:
            raise CliError(error_line(exc)) from None
        built = await build_channel(
            plugin, config, state_dir, store, token_stores=cluster.token_stores
        )
        stack.push_async_callback(close_channel, built)
        yield ChannelHandle(channel, cluster.route(built), config, state_dir, store)


@contextlib.asynccontextmanager
async def read_store(state_dir: Path) -> AsyncIterator[Store]:
    """The state dir's store for a command that only reads: without a database yet, an empty
    scratch one in a temporary folder, so that reading never creates the state dir."""
    if (state_dir / DATABASE_FILENAME).exists():
        async with await Store.open(state_dir) as store:
            yield store
        return
    with tempfile.TemporaryDirectory(prefix="zalogate-read-") as scratch:
        async with await Store.open(Path(scratch)) as store:
            yield store


async def bounded(call: Awaitable[_T], seconds: float, what: str) -> _T:
    """Await ``call`` for at most ``seconds``.

    Raises:
        CliError: ``<what> timed out after <n> s``.
    """
    try:
        return await asyncio.wait_for(call, timeout=seconds)
    except TimeoutError as exc:
        raise CliError(f"{what} timed out after {seconds:g} s") from exc


def error_line(exc: BaseException) -> str:
    """One redacted line for ``exc`` (its first line, or its type when it has no text).

    A leading exception class (``NeedsLoginError: ...``, as journals and receipts record
    errors) is dropped: the text says what went wrong.
    """
    return _TYPE_PREFIX.sub("", _first_line(str(exc))) or type(exc).__name__


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return redact(lines[0].strip()) if lines else ""
