"""Finding and reading the JSON5 file; the state dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from zalogate.config import ConfigError, config_path, load_config, parse_config, state_dir


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_default_file_gives_safe_defaults(tmp_path: Path) -> None:
    config = load_config(env={"HOME": str(tmp_path)})
    assert config.source_path is None
    assert config.gateway.port == 18789
    assert config.channels.zalo is None


def test_default_file_is_under_home(tmp_path: Path) -> None:
    write(tmp_path / ".zalogate" / "zalogate.json5", "{ gateway: { port: 1234 } }")
    config = load_config(env={"HOME": str(tmp_path)})
    assert config.gateway.port == 1234
    assert config.source_path == tmp_path / ".zalogate" / "zalogate.json5"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json5"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, env={"HOME": str(tmp_path)})
    assert caught.value.problems == [f"{missing}: config file not found"]


def test_missing_file_named_by_the_environment_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json5"
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(env={"HOME": str(tmp_path), "ZALOGATE_CONFIG": str(missing)})


def test_config_path_precedence(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "ZALOGATE_CONFIG": "~/custom.json5"}
    assert config_path(Path("/x/explicit.json5"), env) == Path("/x/explicit.json5")
    assert config_path(None, env) == tmp_path / "custom.json5"
    assert config_path(None, {"HOME": str(tmp_path)}) == tmp_path / ".zalogate" / "zalogate.json5"


def test_json5_comments_trailing_commas_and_bare_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.json5",
        """
        // a comment
        {
          gateway: { port: 2000, }, /* block */
          channels: { zalo: { botToken: '1:x', allowFrom: [123456789012345678901,], }, },
        }
        """,
    )
    config = load_config(path, env={})
    assert config.gateway.port == 2000
    assert config.channels.zalo is not None
    assert config.channels.zalo.allow_from == [123456789012345678901]


def test_invalid_json5_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json5", "{\n  gateway: { port: 1 },\n  oops\n}")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    (message,) = caught.value.problems
    assert message.startswith(f"{path}: invalid JSON5: line 4")


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.json5", "{ gateway: { port: 1, port: 2 } }")
    with pytest.raises(ConfigError, match="invalid JSON5"):
        load_config(path, env={})


def test_the_root_must_be_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json5", "[1, 2]")
    with pytest.raises(ConfigError, match="must be an object"):
        load_config(path, env={})


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path, env={})


def test_substitution_uses_the_given_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZT", "from-process")
    path = write(tmp_path / "c.json5", '{ channels: { zalo: { botToken: "${ZT}" } } }')
    config = load_config(path, env={"ZT": "from-argument"})
    assert config.channels.zalo is not None
    assert config.channels.zalo.bot_token is not None
    assert config.channels.zalo.bot_token.get_secret_value() == "from-argument"


def test_secret_file_refs_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "token", "7:from-file\n")
    path = write(
        tmp_path / "conf" / "c.json5",
        '{ channels: { zalo: { botToken: { source: "file", provider: "default", id: "token" } } } }'
        "\n",
    )
    config = load_config(path, env={})
    assert config.channels.zalo is not None
    assert config.channels.zalo.bot_token is not None
    assert config.channels.zalo.bot_token.get_secret_value() == "7:from-file"


def test_every_problem_in_a_file_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "broken.json5",
        """{
          gateway: { port: "eighty" },
          channels: { zalo: { dmPolicy: "everyone" }, zalouser: { historyLimit: -2 } },
          extra: true,
        }""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    # In the order the keys are written in the file.
    assert caught.value.problems == [
        "gateway.port: must be an integer (got string)",
        "channels.zalo.dmPolicy: must be 'pairing', 'allowlist', 'open' or 'disabled'",
        "channels.zalouser.historyLimit: must be >= 0",
        "extra: unknown key",
    ]
    assert caught.value.source == str(path)


def test_state_dir_precedence(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "ZALOGATE_STATE_DIR": str(tmp_path / "env-state")}
    assert state_dir(parse_config({}, env=env), env) == tmp_path / "env-state"
    assert state_dir(parse_config({}, env={"HOME": str(tmp_path)}), {"HOME": str(tmp_path)}) == (
        tmp_path / ".zalogate"
    )
    configured = parse_config({"gateway": {"stateDir": "~/state"}}, env=env)
    assert state_dir(configured, env) == tmp_path / "state"


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path / "conf" / "c.json5", '{ gateway: { stateDir: "data" } }')
    config = load_config(path, env={})
    assert state_dir(config, {}) == tmp_path / "conf" / "data"


def test_state_dir_is_not_created(tmp_path: Path) -> None:
    env = {"ZALOGATE_STATE_DIR": str(tmp_path / "later")}
    state_dir(parse_config({}, env=env), env)
    assert not (tmp_path / "later").exists()
