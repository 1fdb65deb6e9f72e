"""Channel plugins: discovery through the ``zalogate.channels`` entry points, enablement, loading.

Whether a plugin may run is decided in this order (the first rule that applies wins):

1. ``plugins.deny`` in the config lists it -> disabled;
2. ``plugins.allow`` is set and does not list it -> disabled;
3. it is a third-party plugin and ``plugins.enabled`` is ``false`` -> disabled;
4. ``zalogate plugins enable|disable`` recorded a choice in ``<state dir>/plugins.json``;
5. ``plugins.entries.<id>.enabled`` in the config;
6. enabled.

The CLI never rewrites the user's JSON5 file (its comments would be lost); its choices live in
the state dir, written atomically with mode 0600. An enabled plugin still runs only when its
``channels.<id>`` section is written (the gateway checks that).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

from zalogate.core.channel import ENTRY_POINT_GROUP, ChannelPlugin
from zalogate.core.traits import register_traits
from zalogate.store.paths import write_private_file

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "PLUGIN_CHOICES_FILE",
    "InstalledPlugin",
    "PluginError",
    "PluginInfo",
    "discover_plugins",
    "installed_plugin_ids",
    "list_plugins",
    "load_installed_plugins",
    "load_plugin",
    "plugin_choices_path",
    "plugin_entry_points",
    "read_plugin_choices",
    "write_plugin_choice",
]

log = logging.getLogger("zalogate.plugins")

BUILTIN_DISTRIBUTION = "zalogate"
PLUGIN_CHOICES_FILE = "plugins.json"

PluginSource = Literal["builtin", "third-party"]


class PluginError(Exception):
    """A plugin cannot be found, loaded, or its enablement cannot be read or saved."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One installed channel plugin, as ``zalogate plugins list`` shows it."""

    id: str
    source: PluginSource
    distribution: str | None
    version: str | None
    enabled: bool
    reason: str
    """Why it is enabled or disabled (which rule decided)."""
    entry_point: str
    """``module:attribute`` the entry point names."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (for ``--json``)."""
        return {
            "id": self.id,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "enabled": self.enabled,
            "reason": self.reason,
            "entryPoint": self.entry_point,
        }


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """An installed channel plugin, loaded (``plugin``) or not (``error`` says why)."""

    id: str
    plugin: ChannelPlugin | None
    error: str | None = None

    @property
    def label(self) -> str:
        """The plugin's label, or its id when it could not be loaded."""
        return self.plugin.label if self.plugin is not None else self.id


def _entry_points() -> list[EntryPoint]:
    """The group's entry points, one per id (the first one found wins, as on ``sys.path``)."""
    chosen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in chosen:
            if _distribution(ep) != _distribution(chosen[ep.name]):
                log.warning(
                    "two distributions provide channel plugin %r (%s, %s); using the first",
                    ep.name,
                    _distribution(chosen[ep.name]),
                    _distribution(ep),
                )
            continue
        chosen[ep.name] = ep
    return [chosen[name] for name in sorted(chosen)]


def _distribution(ep: EntryPoint) -> str | None:
    dist = ep.dist
    return None if dist is None else dist.name or None


def _version(ep: EntryPoint) -> str | None:
    dist = ep.dist
    return None if dist is None else dist.version


def _source(ep: EntryPoint) -> PluginSource:
    name = (_distribution(ep) or "").lower().replace("_", "-")
    return "builtin" if name == BUILTIN_DISTRIBUTION else "third-party"


def plugin_choices_path(state_dir: Path) -> Path:
    """``<state dir>/plugins.json``: the CLI's enable/disable choices."""
    return Path(state_dir) / PLUGIN_CHOICES_FILE


def read_plugin_choices(state_dir: Path | None) -> dict[str, bool]:
    """The recorded ``plugins enable|disable`` choices (empty when none were made).

    Raises:
        PluginError: The file exists but is not a JSON object of booleans.
    """
    if state_dir is None:
        return {}
    path = plugin_choices_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise PluginError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PluginError(f"{path}: not valid JSON ({exc})") from exc
    enabled = data.get("enabled") if isinstance(data, dict) else None
    if not isinstance(enabled, dict) or not all(isinstance(v, bool) for v in enabled.values()):
        raise PluginError(f'{path}: expected {{"enabled": {{"<plugin id>": true|false}}}}')
    return {str(k): v for k, v in enabled.items()}


def write_plugin_choice(state_dir: Path, plugin_id: str, enabled: bool) -> Path:
    """Record that ``plugin_id`` is enabled or disabled (atomic write, mode 0600)."""
    choices = read_plugin_choices(state_dir)
    choices[plugin_id] = enabled
    body = json.dumps({"enabled": dict(sorted(choices.items()))}, indent=2) + "\n"
    path = plugin_choices_path(state_dir)
    return write_private_file(path, body.encode("utf-8"))


def _plugins_section(config: Any) -> Any:
    return getattr(config, "plugins", None) if config is not None else None


def _decide(
    plugin_id: str, source: PluginSource, config: Any, choices: Mapping[str, bool]
) -> tuple[bool, str]:
    section = _plugins_section(config)
    deny = getattr(section, "deny", None) or ()
    allow = getattr(section, "allow", None)
    if plugin_id in deny:
        return False, "listed in plugins.deny"
    if allow is not None and plugin_id not in allow:
        return False, "not listed in plugins.allow"
    if source == "third-party" and getattr(section, "enabled", True) is False:
        return False, "plugins.enabled is false"
    if plugin_id in choices:
        word = "enable" if choices[plugin_id] else "disable"
        return choices[plugin_id], f"zalogate plugins {word}"
    entries = getattr(section, "entries", None) or {}
    entry = entries.get(plugin_id) if isinstance(entries, Mapping) else None
    entry_enabled = getattr(entry, "enabled", None)
    if isinstance(entry_enabled, bool):
        return entry_enabled, f"plugins.entries.{plugin_id}.enabled"
    return True, "default"


def _default_state_dir() -> Path:
    override = os.environ.get("ZALOGATE_STATE_DIR", "").strip()
    return Path(override).expanduser() if override else Path.home() / ".zalogate"


def list_plugins(config: Any = None, *, state_dir: Path | None = None) -> list[PluginInfo]:
    """Every installed channel plugin with its enablement, sorted by id.

    Args:
        config: The ``ZalogateConfig`` (its ``plugins`` section); ``None``: no config rules.
        state_dir: Where the CLI's choices live; ``None``: ``$ZALOGATE_STATE_DIR`` or
            ``~/.zalogate``.
    """
    choices = read_plugin_choices(state_dir if state_dir is not None else _default_state_dir())
    return _plugin_infos(config, choices)


def _plugin_infos(config: Any, choices: Mapping[str, bool]) -> list[PluginInfo]:
    infos: list[PluginInfo] = []
    for ep in _entry_points():
        source = _source(ep)
        enabled, reason = _decide(ep.name, source, config, choices)
        infos.append(
            PluginInfo(
                id=ep.name,
                source=source,
                distribution=_distribution(ep),
                version=_version(ep),
                enabled=enabled,
                reason=reason,
                entry_point=ep.value,
            )
        )
    return infos


def discover_plugins(config: Any = None, *, state_dir: Path | None = None) -> list[str]:
    """Ids of the installed channel plugins that may run (see the module docstring)."""
    try:
        choices = read_plugin_choices(state_dir if state_dir is not None else _default_state_dir())
    except PluginError as exc:
        # An unreadable choices file must not stop the gateway: the config rules still apply.
        log.error("%s; ignoring the recorded plugin choices", exc)
        choices = {}
    infos = _plugin_infos(config, choices)
    for info in infos:
        if not info.enabled:
            log.info("channel plugin %s is disabled (%s)", info.id, info.reason)
    return [info.id for info in infos if info.enabled]


def installed_plugin_ids() -> list[str]:
    """Ids of every installed channel plugin (enabled or not), sorted."""
    return [ep.name for ep in _entry_points()]


def plugin_entry_points() -> dict[str, tuple[str | None, str | None, str]]:
    """``id -> (distribution, version, module:attribute)`` of every installed channel plugin."""
    return {ep.name: (_distribution(ep), _version(ep), ep.value) for ep in _entry_points()}


def load_plugin(plugin_id: str) -> ChannelPlugin:
    """Import the plugin registered under ``plugin_id``.

    Raises:
        PluginError: No such plugin, it fails to import, or it is not a ``ChannelPlugin``.
    """
    entries = _entry_points()
    for ep in entries:
        if ep.name == plugin_id:
            return _load(ep)
    installed = ", ".join(ep.name for ep in entries) or "none"
    raise PluginError(f"no channel plugin {plugin_id!r} is installed (installed: {installed})")


def load_installed_plugins() -> list[InstalledPlugin]:
    """Every installed channel plugin, loaded, sorted by id.

    A plugin that fails to load is listed with its error (the cause's text when importing it
    raised) instead of raising, so that one broken distribution does not hide the others.
    """
    found: list[InstalledPlugin] = []
    for ep in _entry_points():
        try:
            found.append(InstalledPlugin(ep.name, _load(ep)))
        except PluginError as exc:
            cause = exc.__cause__
            error = (str(cause).strip() or type(cause).__name__) if cause else str(exc)
            found.append(InstalledPlugin(ep.name, None, error))
    return found


def _load(ep: EntryPoint) -> ChannelPlugin:
    try:
        plugin = ep.load()
    except Exception as exc:
        raise PluginError(
            f"channel plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(plugin, ChannelPlugin):
        raise PluginError(
            f"channel plugin {ep.name!r} ({ep.value}) is a {type(plugin).__name__}, "
            "not a zalogate.core.channel.ChannelPlugin"
        )
    if plugin.id != ep.name:
        raise PluginError(
            f"channel plugin entry point {ep.name!r} loads a plugin with id {plugin.id!r}"
        )
    if plugin.traits is not None:
        register_traits(plugin.traits)
    return plugin
