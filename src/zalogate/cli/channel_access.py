"""Reaching a channel from a one-off command (``channels``, ``message``, ``directory``).

One place for what those commands share: which channel plugins are installed (found by
:mod:`zalogate.runtime.plugins`, the one owner of plugin discovery), loading the
config, building a channel outside the gateway (a real :class:`~zalogate.store.Store` in the
state dir, an inbox that refuses messages, no HTTP routes), picking the account, bounding a
call in time, and turning any failure into one redacted line.

Besides the protocols of :mod:`zalogate.core.channel`, the commands use these optional
capabilities, looked up by name on the channel (a channel implements the methods; it needs to
import nothing from the CLI):

``account_snapshot(account) -> Mapping[str, Any]``
    Config facts for ``channels status`` without any network (camelCase keys):
    ``configured`` (bool), ``mode`` (``polling``/``webhook``, ``qr``...), ``tokenSource``
    (``config``/``configFile``/``env``/``none``), ``tokenStatus``/``tokenDetail``,
    ``dmPolicy``, ``groupPolicy``, ``warnings`` (list of str; when present they replace the
    CLI's own open-policy warnings) and any other display-safe value. Never a secret.
``async login_interactive(account, ui: LoginUI) -> str``
    ``channels login``: the channel drives the login through ``ui`` (see :class:`LoginUI`)
    and returns the line to print on success (e.g. ``Login successful.``); it raises on
    failure (expired or declined QR) with a message meant for the user.
``async logout(account) -> bool``
    ``channels logout`` (:class:`zalogate.core.channel.Login`): True when saved credentials
    were removed.
``async directory_group_members(account, group_id) -> Sequence[DirectoryEntry]``
    ``directory groups members``; ``--query``/``--limit`` are applied by the CLI.
``async send_link(account, target, url, caption) -> DeliveryReceipt``
    ``message send --link``; without it the URL is sent as part of the text.
``async aclose()``
    Called when a one-off command is done with the channel (close HTTP clients, sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from zalogate.cli.errors import CliError
from zalogate.cli.gateway import load_runtime_config
from zalogate.cli.state import CliState
from zalogate.config import ResolvedAccount, ZalogateConfig, normalize_account_id, resolve_accounts
from zalogate.core.channel import Admission, Channel, ChannelAccount, ChannelContext
from zalogate.core.model import InboundMessage
from zalogate.runtime.logging import redact, register_secret
from zalogate.runtime.plugins import InstalledPlugin, installed_plugin_ids, load_installed_plugins
from zalogate.runtime.secrets import collect_secrets
from zalogate.store import Store

__all__ = [
    "BUILTIN_CHANNELS",
    "ChannelHandle",
    "InstalledPlugin",
    "InteractiveLogin",
    "LoginUI",
    "bounded",
    "build_channel",
    "channel_id",
    "close_channel",
    "enabled_account",
    "error_line",
    "find_plugin",
    "installed_channel_ids",
    "installed_plugins",
    "is_channel_name",
    "load_cli_config",
    "open_channel",
    "resolved_accounts",
]

BUILTIN_CHANNELS = ("zalo", "zalouser")
_ALIASES = {"zl": "zalo", "zlu": "zalouser"}
_CHANNEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

_T = TypeVar("_T")
log = logging.getLogger("zalogate.cli")


class LoginUI(Protocol):
    """What ``channels login`` lends a channel's ``login_interactive`` for terminal I/O."""

    def info(self, message: str) -> None:
        """Print one line of progress (``Waiting for the scan...``)."""
        ...

    async def confirm(self, question: str, *, default: bool = False) -> bool:
        """Ask a yes/no question (``Zalo Personal already logged in. Keep session?``)."""
        ...

    async def show_qr(self, png: bytes, *, payload: str | None = None) -> Path:
        """Draw a login QR code in the terminal and save ``png`` (mode 0600); return the path.

        ``payload`` is the text the QR encodes, when the channel knows it (drawn with segno);
        otherwise the terminal drawing is made from the PNG itself.
        """
        ...


@runtime_checkable
class InteractiveLogin(Protocol):
    """A channel whose accounts log in interactively (zalouser's QR login)."""

    async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
        """Log ``account`` in; return the success line. Raise with a user-facing message."""
        ...


def installed_plugins() -> list[InstalledPlugin]:
    """Every installed channel plugin: the built-in ones first, then the others by id.

    A plugin that fails to load is listed with its error instead of breaking the command.
    """
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
        key=lambda p: _builtin_first(p.id),
    )


def installed_channel_ids() -> list[str]:
    """Ids of the installed channel plugins (built-in first), without importing them."""
    try:
        ids = installed_plugin_ids()
    except Exception as exc:  # a broken distribution must not break the CLI
        log.debug("could not read the channel entry points: %s", exc)
        ids = []
    return sorted((i for i in ids if _CHANNEL_ID.match(i)), key=_builtin_first)


def _builtin_first(plugin_id: str) -> tuple[int, str]:
    order = BUILTIN_CHANNELS.index(plugin_id) if plugin_id in BUILTIN_CHANNELS else None
    return (len(BUILTIN_CHANNELS) if order is None else order, plugin_id)


def channel_id(raw: str, plugins: Sequence[InstalledPlugin | str] | None = None) -> str:
    """Normalise a ``--channel`` value (aliases ``zl``/``zlu``) to an installed plugin id.

    Args:
        raw: What the user typed.
        plugins: The installed plugins (or their ids); default: every installed plugin id.

    Raises:
        CliError: No installed plugin has that id.
    """
    name = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
    known = (
        installed_channel_ids()
        if plugins is None
        else [p if isinstance(p, str) else p.id for p in plugins]
    )
    if name not in known:
        listed = ", ".join(known) or "none is installed"
        raise CliError(f"unknown channel {raw.strip()!r} (installed channels: {listed})")
    return name


def is_channel_name(raw: str) -> bool:
    """Whether ``raw`` names an installed channel or an alias of one (``zl``, ``zlu``)."""
    name = raw.strip().lower()
    return name in _ALIASES or name in installed_channel_ids()


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

    For ``zalo`` that includes the ``default`` account ``ZALO_BOT_TOKEN`` gives when no
    ``channels.zalo`` section is written.
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
        hint = " or set ZALO_BOT_TOKEN" if channel == "zalo" else ""
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
    plugin: InstalledPlugin, config: ZalogateConfig, state_dir: Path, store: Store
) -> Channel:
    """Create ``plugin``'s channel for a one-off command and register its secrets.

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
    """Call the channel's optional ``aclose()`` (errors are only logged)."""
    closer = getattr(channel, "aclose", None)
    if callable(closer):
        try:
            await closer()
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
) -> AsyncIterator[ChannelHandle]:
    """Build ``channel`` for a one-off command; close it and the store afterwards.

    Raises:
        CliError: The plugin is not installed, failed to load or failed to build.
    """
    plugin = find_plugin(channel, installed_plugins() if plugins is None else plugins)
    async with await Store.open(state_dir) as store:
        built = await build_channel(plugin, config, state_dir, store)
        try:
            yield ChannelHandle(channel, built, config, state_dir, store)
        finally:
            await close_channel(built)


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
    """One redacted line for ``exc`` (its first line, or its type when it has no text)."""
    return _first_line(str(exc)) or type(exc).__name__


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return redact(lines[0].strip()) if lines else ""
