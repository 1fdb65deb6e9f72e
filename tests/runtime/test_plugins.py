"""Channel plugin discovery, enablement rules and loading (``zalogate.runtime.plugins``)."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zalogate import __version__
from zalogate.config import parse_config
from zalogate.core.channel import ChannelPlugin
from zalogate.runtime.plugins import (
    PluginError,
    discover_plugins,
    list_plugins,
    load_plugin,
    plugin_choices_path,
    read_plugin_choices,
    write_plugin_choice,
)
from zalogate.runtime.wiring import configured_plugins

MODULES = ("fake_chan_plugin", "broken_chan_plugin", "wrong_chan_plugin")


def fake_distribution(
    root: Path, dist: str, version: str, entries: dict[str, str], module: str, body: str
) -> None:
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[zalogate.channels]\n{lines}")
    (root / f"{module}.py").write_text(body)


PLUGIN_BODY = """
from zalogate.core.channel import ChannelPlugin

def _create(context):
    raise NotImplementedError

plugin = ChannelPlugin(id="fakechan", label="Fake channel", create=_create)
mismatched = ChannelPlugin(id="other", label="Other", create=_create)
"""


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    fake_distribution(
        root,
        "fake-chan",
        "2.0.1",
        {"fakechan": "fake_chan_plugin:plugin", "mismatch": "fake_chan_plugin:mismatched"},
        "fake_chan_plugin",
        PLUGIN_BODY,
    )
    fake_distribution(
        root,
        "broken-chan",
        "0.1",
        {"brokenchan": "broken_chan_plugin:plugin"},
        "broken_chan_plugin",
        "raise ImportError('missing dependency: libfoo')\n",
    )
    fake_distribution(
        root,
        "wrong-chan",
        "0.1",
        {"wrongchan": "wrong_chan_plugin:plugin"},
        "wrong_chan_plugin",
        "plugin = 'not a plugin'\n",
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_builtin_channels_are_listed_as_builtin(state: Path) -> None:
    infos = {i.id: i for i in list_plugins(state_dir=state)}
    for channel in ("zalo", "zalouser"):
        assert infos[channel].source == "builtin"
        assert infos[channel].distribution == "zalogate"
        assert infos[channel].version == __version__
        assert infos[channel].enabled is True
        assert infos[channel].reason == "default"


def test_third_party_plugins_show_their_distribution(third_party: Path, state: Path) -> None:
    info = {i.id: i for i in list_plugins(state_dir=state)}["fakechan"]
    assert info.source == "third-party"
    assert (info.distribution, info.version) == ("fake-chan", "2.0.1")
    assert info.entry_point == "fake_chan_plugin:plugin"
    assert info.as_dict()["entryPoint"] == "fake_chan_plugin:plugin"


def test_load_plugin_returns_the_channel_plugin(third_party: Path) -> None:
    plugin = load_plugin("fakechan")
    assert isinstance(plugin, ChannelPlugin)
    assert plugin.label == "Fake channel"
    assert load_plugin("zalo").id == "zalo"


@pytest.mark.parametrize(
    ("plugin_id", "message"),
    [
        ("nope", "no channel plugin 'nope' is installed (installed: "),
        ("brokenchan", "failed to load: ImportError: missing dependency: libfoo"),
        ("wrongchan", "is a str, not a zalogate.core.channel.ChannelPlugin"),
        ("mismatch", "loads a plugin with id 'other'"),
    ],
)
def test_load_plugin_errors_are_clear(third_party: Path, plugin_id: str, message: str) -> None:
    with pytest.raises(PluginError) as caught:
        load_plugin(plugin_id)
    assert message in str(caught.value)


def test_choices_are_written_atomically_with_mode_0600(state: Path) -> None:
    path = write_plugin_choice(state, "zalouser", False)
    write_plugin_choice(state, "zalo", True)
    assert path == plugin_choices_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"enabled": {"zalo": True, "zalouser": False}}
    assert read_plugin_choices(state) == {"zalo": True, "zalouser": False}
    assert [p.name for p in state.iterdir()] == ["plugins.json"]  # no temp file left


def test_a_damaged_choices_file_is_an_error_but_does_not_stop_discovery(state: Path) -> None:
    state.mkdir()
    plugin_choices_path(state).write_text('{"enabled": {"zalo": "no"}}')
    with pytest.raises(PluginError, match="expected"):
        read_plugin_choices(state)
    assert discover_plugins(state_dir=state) == ["zalo", "zalooa", "zalouser"]


def decide(config_plugins: dict[str, object], state: Path, plugin_id: str) -> tuple[bool, str]:
    config = parse_config({"plugins": config_plugins}, env={})
    info = {i.id: i for i in list_plugins(config, state_dir=state)}[plugin_id]
    return info.enabled, info.reason


def test_enablement_rules_in_order(third_party: Path, state: Path) -> None:
    assert decide({}, state, "fakechan") == (True, "default")
    assert decide({"entries": {"fakechan": {"enabled": False}}}, state, "fakechan") == (
        False,
        "plugins.entries.fakechan.enabled",
    )
    write_plugin_choice(state, "fakechan", True)
    # The CLI's choice beats entries.<id>.enabled ...
    assert decide({"entries": {"fakechan": {"enabled": False}}}, state, "fakechan") == (
        True,
        "zalogate plugins enable",
    )
    # ... but not plugins.enabled=false, allow or deny.
    assert decide({"enabled": False}, state, "fakechan") == (False, "plugins.enabled is false")
    assert decide({"allow": ["zalo"]}, state, "fakechan") == (False, "not listed in plugins.allow")
    assert decide({"deny": ["fakechan"], "allow": ["fakechan"]}, state, "fakechan") == (
        False,
        "listed in plugins.deny",
    )


def test_plugins_enabled_false_keeps_the_builtin_channels(state: Path) -> None:
    assert decide({"enabled": False}, state, "zalo") == (True, "default")


def test_discover_returns_only_enabled_plugins(third_party: Path, state: Path) -> None:
    write_plugin_choice(state, "zalouser", False)
    ids = discover_plugins(state_dir=state)
    assert "zalouser" not in ids
    assert {"zalo", "fakechan"} <= set(ids)


def test_the_gateway_does_not_start_a_disabled_plugin(state: Path) -> None:
    config = parse_config({"channels": {"zalo": {}, "zalouser": {}}}, env={})
    started = [p.id for p in configured_plugins(config, state)]
    assert started == ["zalo", "zalouser"]
    write_plugin_choice(state, "zalo", False)
    started = [p.id for p in configured_plugins(config, state)]
    assert started == ["zalouser"]
    denied = parse_config({"channels": {"zalo": {}}, "plugins": {"deny": ["zalouser"]}}, env={})
    assert [p.id for p in configured_plugins(denied, state)] == []
