"""`zalogate channels list|status|login|logout` (zalo-bot-api.md §7, gateway-behaviour §5)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from zalogate.channels.zalo import plugin as zalo_plugin
from zalogate.cli import channel_access
from zalogate.cli.channel_access import InstalledPlugin
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    Login,
    LoginUI,
    ProbeResult,
)
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.runtime.http import HttpServer
from zalogate.runtime.status import AccountState, AccountStatus
from zalogate.store import Store
from zalogate.testing import FakeZaloBotApi

from .conftest import free_port, run_cli


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "zalogate.json5"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_CONFIG", str(path))
    return path


def no_gateway(port: int | None = None) -> str:
    return f"gateway: {{ port: {port or free_port()} }},"


# -- list -------------------------------------------------------------------------------


def install_broken_zalo_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed ``zalo`` plugin fails to build its channel (status falls back to config)."""

    def broken(context: ChannelContext) -> Any:
        raise RuntimeError("the zalo module is broken")

    plugin = dataclasses.replace(zalo_plugin, create=broken)  # its traits and inspector stay
    monkeypatch.setattr(
        "zalogate.cli.channels.installed_plugins", lambda: [InstalledPlugin("zalo", plugin)]
    )


def test_list_shows_every_installed_channel_with_its_accounts(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(
        tmp_path,
        """{ channels: { zalo: { botToken: "111:abcdefsecret", defaultAccount: "work",
             accounts: { work: { name: "Work bot" }, Old: { enabled: false } } } } }""",
        monkeypatch,
    )
    assert run_cli(["channels", "list", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    by_id = {c["channel"]: c for c in body["channels"]}
    assert {"zalo", "zalouser"} <= set(by_id)
    assert by_id["zalouser"]["configured"] is False
    accounts = {a["accountId"]: a for a in by_id["zalo"]["accounts"]}
    assert accounts["work"] == {
        "accountId": "work",
        "name": "Work bot",
        "enabled": True,
        "default": True,
    }
    assert accounts["old"]["enabled"] is False

    assert run_cli(["channels", "list"]) == 0
    out = capsys.readouterr().out
    assert "zalo (Zalo Bot API): installed, configured" in out
    assert "- work (Work bot): enabled, default" in out
    assert "- old: disabled" in out
    assert "zalouser (Zalo Personal): installed, not configured" in out
    assert "abcdefsecret" not in out


def test_list_says_when_the_config_disables_a_plugin(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(tmp_path, '{ plugins: { deny: ["zalouser"] } }', monkeypatch)
    assert run_cli(["channels", "list", "--json"]) == 0
    by_id = {c["channel"]: c for c in json.loads(capsys.readouterr().out)["channels"]}
    assert by_id["zalouser"]["pluginEnabled"] is False
    assert by_id["zalo"]["pluginEnabled"] is True
    assert run_cli(["channels", "list"]) == 0
    assert "zalouser (Zalo Personal): installed, plugin disabled (" in capsys.readouterr().out


# -- status (no gateway) ----------------------------------------------------------------


def test_status_without_gateway_reports_mode_token_source_and_warnings(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("222:filesecretvalue\n", encoding="utf-8")
    write_config(
        tmp_path,
        f"""{{ {no_gateway()}
          channels: {{ zalo: {{
            botToken: "111:inlinesecretvalue", dmPolicy: "open", allowFrom: ["*"],
            accounts: {{
              default: {{}},
              hook: {{ botToken: "", tokenFile: "{token_file}", groupPolicy: "allowlist",
                       webhookUrl: "https://bot.example.com/zalo",
                       webhookSecret: "webhook-secret-value" }},
              blank: {{ botToken: "" }},
            }} }} }} }}""",
        monkeypatch,
    )
    assert run_cli(["channels", "status", "--channel", "zalo", "--json"]) == 0
    raw = capsys.readouterr().out
    for secret in ("inlinesecretvalue", "filesecretvalue", "webhook-secret-value"):
        assert secret not in raw
    body = json.loads(raw)
    assert body["gateway"]["reachable"] is False
    [zalo] = body["channels"]
    rows = {r["accountId"]: r for r in zalo["accounts"]}
    assert rows["default"]["mode"] == "polling"
    assert rows["default"]["tokenSource"] == "config"
    assert rows["default"]["configured"] is True
    assert rows["default"]["dmPolicy"] == "open"
    assert any('dmPolicy is "open"' in w for w in rows["default"]["warnings"])
    assert any('groupPolicy is "open"' in w for w in rows["default"]["warnings"])
    assert rows["hook"]["mode"] == "webhook"
    assert rows["hook"]["tokenSource"] == "configFile"
    assert rows["hook"]["groupPolicy"] == "allowlist"
    assert not any("groupPolicy" in w for w in rows["hook"]["warnings"])
    # an explicitly blank account token does not inherit the top-level one (§5.2)
    assert rows["blank"]["tokenSource"] == "none"
    assert rows["blank"]["configured"] is False
    assert any("no bot token" in w for w in rows["blank"]["warnings"])
    assert rows["default"]["runtime"]["source"] == "state store"

    assert run_cli(["channels", "status", "--channel", "zalo"]) == 0
    text = capsys.readouterr().out
    assert "No gateway at" in text
    assert "- default: enabled, configured, polling, token: config, default" in text
    assert "- hook: enabled, configured, webhook, token: configFile" in text
    assert any("warning:" in line and 'dmPolicy is "open"' in line for line in text.splitlines())
    assert "inlinesecretvalue" not in text


def test_status_falls_back_to_the_config_when_the_channel_cannot_be_built(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    install_broken_zalo_plugin(monkeypatch)
    monkeypatch.setenv("ZALO_BOT_TOKEN", "333:envsecretvalue")
    write_config(
        tmp_path,
        f"""{{ {no_gateway()} channels: {{ zalo: {{ accounts: {{
             default: {{}}, work: {{}}, hook: {{ botToken: "444:accountsecret",
             webhookUrl: "https://bot.example.com/z", webhookSecret: "secret-secret" }}
           }} }} }} }}""",
        monkeypatch,
    )
    assert run_cli(["channels", "status", "--json"]) == 0
    raw = capsys.readouterr().out
    assert "envsecretvalue" not in raw
    assert "accountsecret" not in raw
    [zalo] = json.loads(raw)["channels"]
    assert zalo["setupError"] == "could not set up the zalo channel: the zalo module is broken"
    rows = {r["accountId"]: r for r in zalo["accounts"]}
    assert (rows["default"]["tokenSource"], rows["default"]["configured"]) == ("env", True)
    # ZALO_BOT_TOKEN and top-level values serve the default account only
    assert (rows["work"]["tokenSource"], rows["work"]["configured"]) == ("none", False)
    assert (rows["hook"]["tokenSource"], rows["hook"]["mode"]) == ("config", "webhook")
    assert any('groupPolicy is "open"' in w for w in rows["hook"]["warnings"])


def test_status_with_nothing_configured_creates_no_state_dir(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(tmp_path, f"{{ {no_gateway()} }}", monkeypatch)
    assert run_cli(["channels", "status"]) == 0
    out = capsys.readouterr().out
    assert "zalo (Zalo Bot API): not configured" in out
    assert "zalouser (Zalo Personal): not configured" in out
    assert not state_dir.exists()


def test_status_reads_last_activity_from_the_state_store(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(
        tmp_path, f'{{ {no_gateway()} channels: {{ zalo: {{ botToken: "1:x" }} }} }}', monkeypatch
    )

    async def seed() -> None:
        async with await Store.open(state_dir) as store:
            await store.execute(
                "INSERT INTO inbox_entries (channel, account_id, message_id, lane, state,"
                " last_error, admitted_at_ms, finished_at_ms)"
                " VALUES ('zalo', 'default', 'm1', 'l', 'dead', 'agent exploded', ?, ?)",
                (1_700_000_000_000, 1_700_000_001_000),
            )
            await store.execute(
                "INSERT INTO pipeline_deliveries (channel, account_id, message_id, seq, target,"
                " status, created_at_ms) VALUES ('zalo', 'default', 'm0', 0, 'u1', 'sent', ?)",
                (1_690_000_000_000,),
            )

    asyncio.run(seed())
    assert run_cli(["channels", "status", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    zalo = next(c for c in body["channels"] if c["channel"] == "zalo")
    runtime = zalo["accounts"][0]["runtime"]
    assert runtime == {
        "source": "state store",
        "state": "not running",
        "lastInboundAt": 1_700_000_000_000,
        "lastOutboundAt": 1_690_000_000_000,
        "lastError": "agent exploded",
    }


async def test_status_prefers_the_running_gateway_healthz(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    records = [
        AccountStatus(
            "zalo",
            "default",
            AccountState.RUNNING,
            last_inbound_at=1_700_000_000_000,
            last_error="HTTP 502",
        )
    ]
    async with HttpServer("127.0.0.1", 0, status=lambda: records) as server:
        write_config(
            tmp_path,
            f"{{ gateway: {{ port: {server.port} }},"
            ' channels: { zalo: { botToken: "1:x" } } }',
            monkeypatch,
        )
        code = await asyncio.to_thread(run_cli, ["channels", "status", "--json"])
        body = json.loads(capsys.readouterr().out)
        text_code = await asyncio.to_thread(run_cli, ["channels", "status", "--channel", "zalo"])
        text = capsys.readouterr().out
    assert code == 0
    assert body["gateway"]["reachable"] is True
    zalo = next(c for c in body["channels"] if c["channel"] == "zalo")
    runtime = zalo["accounts"][0]["runtime"]
    assert runtime["source"] == "gateway"
    assert runtime["state"] == "running"
    assert runtime["lastInboundAt"] == 1_700_000_000_000
    assert runtime["lastError"] == "HTTP 502"
    assert text_code == 0
    assert "Gateway reachable at" in text
    assert "running (gateway); last inbound 2023-11-14 22:13:20 UTC" in text
    assert "last error: HTTP 502" in text


def test_status_of_an_unknown_account_fails(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(
        tmp_path, f'{{ {no_gateway()} channels: {{ zalo: {{ botToken: "1:x" }} }} }}', monkeypatch
    )
    assert run_cli(["channels", "status", "--account", "nope"]) == 1
    assert "no configured account 'nope'" in capsys.readouterr().err


# -- ZALO_BOT_TOKEN without a channels.zalo section ---------------------------------------

ENV_TOKEN = "321:envonlysecretvalue"


def test_list_and_status_with_only_the_env_token(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Scenario 39 (env part) and §6.2 through the CLI: ``default`` configured from env,
    groups fail-closed whatever ``channels.defaults.groupPolicy`` says, no token printed."""
    monkeypatch.setenv("ZALO_BOT_TOKEN", f"  {ENV_TOKEN}  ")
    write_config(
        tmp_path,
        f"{{ {no_gateway()} channels: {{ defaults: {{ groupPolicy: 'open' }} }} }}",
        monkeypatch,
    )
    assert run_cli(["channels", "list", "--json"]) == 0
    by_id = {c["channel"]: c for c in json.loads(capsys.readouterr().out)["channels"]}
    assert by_id["zalo"]["configured"] is True
    assert by_id["zalo"]["accounts"] == [
        {"accountId": "default", "name": None, "enabled": True, "default": True}
    ]
    assert by_id["zalouser"]["configured"] is False
    assert run_cli(["channels", "list"]) == 0
    out = capsys.readouterr().out
    assert "zalo (Zalo Bot API): installed, configured" in out
    assert "- default: enabled, default" in out

    assert run_cli(["channels", "status", "--json"]) == 0
    raw = capsys.readouterr().out
    assert "envonlysecretvalue" not in raw
    zalo = next(c for c in json.loads(raw)["channels"] if c["channel"] == "zalo")
    assert zalo["setupError"] is None
    [row] = zalo["accounts"]
    assert (row["accountId"], row["enabled"], row["configured"]) == ("default", True, True)
    assert (row["tokenSource"], row["tokenStatus"], row["mode"]) == ("env", "available", "polling")
    assert (row["dmPolicy"], row["groupPolicy"]) == ("pairing", "allowlist")
    assert any("channels.zalo is not in the config" in w for w in row["warnings"])
    assert not any('"open"' in w for w in row["warnings"])
    assert run_cli(["channels", "status", "--channel", "zalo"]) == 0
    text = capsys.readouterr().out
    assert "- default: enabled, configured, polling, token: env, default" in text
    assert "groupPolicy allowlist" in text
    assert "envonlysecretvalue" not in text


def test_status_without_the_channel_still_says_allowlist_for_the_env_account(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The config-only fallback (the channel cannot be built) agrees with the channel."""

    install_broken_zalo_plugin(monkeypatch)
    monkeypatch.setenv("ZALO_BOT_TOKEN", ENV_TOKEN)
    write_config(
        tmp_path,
        f"{{ {no_gateway()} channels: {{ defaults: {{ groupPolicy: 'open' }} }} }}",
        monkeypatch,
    )
    assert run_cli(["channels", "status", "--json"]) == 0
    raw = capsys.readouterr().out
    assert "envonlysecretvalue" not in raw
    [zalo] = json.loads(raw)["channels"]
    assert zalo["setupError"]
    [row] = zalo["accounts"]
    assert (row["tokenSource"], row["configured"], row["groupPolicy"]) == ("env", True, "allowlist")
    assert not any('"open"' in w for w in row["warnings"])
    assert any("channels.zalo is not in the config" in w for w in row["warnings"])


def test_a_written_disabled_section_still_disables_the_env_account(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ZALO_BOT_TOKEN", ENV_TOKEN)
    write_config(
        tmp_path, f"{{ {no_gateway()} channels: {{ zalo: {{ enabled: false }} }} }}", monkeypatch
    )
    assert run_cli(["channels", "list"]) == 0
    assert "- default: disabled, default" in capsys.readouterr().out


async def test_probe_with_only_the_env_token(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with FakeZaloBotApi(name="env.bot") as fake:
        monkeypatch.setenv("ZALO_BOT_TOKEN", fake.token)
        monkeypatch.setenv("ZALO_API_URL", fake.base_url)
        write_config(tmp_path, f"{{ {no_gateway()} }}", monkeypatch)
        code = await asyncio.to_thread(run_cli, ["channels", "status", "--probe", "--json"])
        raw = capsys.readouterr().out
        text_code = await asyncio.to_thread(run_cli, ["channels", "status", "--probe"])
        text = capsys.readouterr().out
    assert (code, text_code) == (0, 0)
    secret = fake.token.split(":", 1)[1]
    assert secret not in raw
    assert secret not in text
    zalo = next(c for c in json.loads(raw)["channels"] if c["channel"] == "zalo")
    [row] = zalo["accounts"]
    assert row["tokenSource"] == "env"
    assert row["probe"]["ok"] is True
    assert row["probe"]["identity"]["account_name"] == "env.bot"
    assert "probe: works (env.bot)" in text


# -- status --probe against the fake Bot API ----------------------------------------------


async def test_probe_shows_the_bot_account_name_and_a_bad_token(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with FakeZaloBotApi(name="shop.bot") as fake:
        write_config(
            tmp_path,
            f"""{{ {no_gateway()} channels: {{ zalo: {{ apiBaseUrl: "{fake.base_url}",
                 accounts: {{ default: {{ botToken: "{fake.token}" }},
                              bad: {{ botToken: "999:not-a-registered-token" }} }} }} }} }}""",
            monkeypatch,
        )
        code = await asyncio.to_thread(run_cli, ["channels", "status", "--probe", "--json"])
        raw = capsys.readouterr().out
        text_code = await asyncio.to_thread(
            run_cli, ["channels", "status", "--probe", "--account", "default"]
        )
        text = capsys.readouterr().out
    assert code == 1  # a failed probe fails the command: usable as a health check
    assert fake.token.split(":")[1] not in raw
    assert "not-a-registered-token" not in raw
    zalo = next(c for c in json.loads(raw)["channels"] if c["channel"] == "zalo")
    rows = {r["accountId"]: r for r in zalo["accounts"]}
    assert rows["default"]["probe"]["ok"] is True
    assert rows["default"]["probe"]["identity"]["account_name"] == "shop.bot"
    assert rows["bad"]["probe"]["ok"] is False
    assert rows["bad"]["probe"]["detail"]
    assert text_code == 0
    assert "probe: works (shop.bot)" in text


async def test_probe_that_hangs_is_cut_at_five_seconds(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A channel whose probe never returns: status still answers, with the limit named."""

    class HangingChannel(StubChannel):
        async def probe(self, account: ChannelAccount) -> ProbeResult:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    install_stub(monkeypatch, HangingChannel)
    monkeypatch.setattr("zalogate.cli.channel_status.PROBE_TIMEOUT", 0.2)
    write_config(tmp_path, f"{{ {no_gateway()} channels: {{ stub: {{}} }} }}", monkeypatch)
    code = await asyncio.to_thread(run_cli, ["channels", "status", "--probe", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert code == 1  # the report is printed; the failed probe fails the command
    stub = next(c for c in body["channels"] if c["channel"] == "stub")
    assert stub["accounts"][0]["probe"] == {
        "ok": False,
        "detail": "the probe timed out after 0.2 s",
        "identity": {},
        "elapsedMs": None,
    }


# -- login / logout -----------------------------------------------------------------------


def test_login_on_the_bot_api_channel_explains_tokens(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(tmp_path, '{ channels: { zalo: { botToken: "1:x" } } }', monkeypatch)
    assert run_cli(["channels", "login", "--channel", "zalo"]) == 1
    err = capsys.readouterr().err
    assert "uses a bot token" in err
    assert "botToken" in err


class StubChannel(Channel):
    """A minimal third-party channel, to test the CLI's side of the optional capabilities."""

    id = "stub"
    text_limit = 2000

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.logged_out: list[str] = []

    def accounts(self) -> Sequence[ChannelAccount]:
        return [
            ChannelAccount("stub", "default", True, {}),
            ChannelAccount("stub", "other", False, {}),
        ]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        return DeliveryReceipt(message_ids=("m1",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True, identity={"name": "Stub"})


def install_stub(monkeypatch: pytest.MonkeyPatch, factory: Any) -> list[Any]:
    """Make ``stub`` an installed plugin next to the real ones; returns the built channels."""
    built: list[Any] = []
    real = channel_access.installed_plugins

    def create(context: ChannelContext) -> Any:
        channel = factory(context)
        built.append(channel)
        return channel

    plugin = ChannelPlugin(id="stub", label="Stub", create=create)

    def installed() -> list[InstalledPlugin]:
        return [*real(), InstalledPlugin("stub", plugin)]

    for module in ("channel_access", "channels", "message", "directory"):
        monkeypatch.setattr(f"zalogate.cli.{module}.installed_plugins", installed)
    ids = {p.id for p in installed()}
    monkeypatch.setattr("zalogate.config.loading.installed_channel_ids", lambda: ids)
    return built


def test_login_delegates_to_login_interactive_and_prints_its_result(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    seen: dict[str, Any] = {}

    class QrChannel(StubChannel):
        @property
        def login(self) -> Login:
            return self

        async def logout(self, account: ChannelAccount) -> bool:
            return False

        async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
            seen["account"] = account.account_id
            ui.info("Scan the QR code with the Zalo app")
            seen["keep"] = await ui.confirm("Keep session?", default=True)
            seen["path"] = await ui.show_qr(b"\x89PNG fake", payload="https://qr.example/abc")
            return "Login successful."

    install_stub(monkeypatch, QrChannel)
    write_config(tmp_path, "{ channels: { stub: {} } }", monkeypatch)
    assert run_cli(["channels", "login", "--channel", "stub", "--account", "Other"]) == 0
    out = capsys.readouterr().out
    assert seen["account"] == "other"  # normalised; a disabled account may still log in
    assert seen["keep"] is True  # no terminal: the default answer
    qr_path: Path = seen["path"]
    assert qr_path.read_bytes() == b"\x89PNG fake"
    assert qr_path.stat().st_mode & 0o777 == 0o600
    assert "Scan the QR code with the Zalo app" in out
    assert f"QR image saved to: {qr_path}" in out
    assert "█" in out or "▀" in out or "▄" in out  # the QR drawn with half blocks
    assert "Login successful.\n" in out


def test_login_failure_is_one_line(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    class Declining(StubChannel):
        @property
        def login(self) -> Login:
            return self

        async def logout(self, account: ChannelAccount) -> bool:
            return False

        async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
            raise RuntimeError("QR login was declined on the phone.")

    install_stub(monkeypatch, Declining)
    write_config(tmp_path, "{ channels: { stub: {} } }", monkeypatch)
    assert run_cli(["channels", "login", "--channel", "stub"]) == 1
    err = capsys.readouterr().err
    assert "stub login failed: QR login was declined on the phone." in err
    assert "Traceback" not in err


def test_login_without_the_capability_says_so(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    install_stub(monkeypatch, StubChannel)
    write_config(tmp_path, "{ channels: { stub: {} } }", monkeypatch)
    assert run_cli(["channels", "login", "--channel", "stub"]) == 1
    assert "has no interactive login" in capsys.readouterr().err
    assert run_cli(["channels", "logout", "--channel", "stub"]) == 1
    assert "no saved session to clear" in capsys.readouterr().err


def test_logout_delegates_and_reports_whether_a_session_was_cleared(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    class Sessions(StubChannel):
        sessions: ClassVar[set[str]] = {"default"}

        @property
        def login(self) -> Login:
            return self

        async def login_interactive(self, account: ChannelAccount, ui: LoginUI) -> str:
            raise AssertionError("not asked")

        async def logout(self, account: ChannelAccount) -> bool:
            if account.account_id in self.sessions:
                self.sessions.discard(account.account_id)
                return True
            return False

    install_stub(monkeypatch, Sessions)
    write_config(tmp_path, "{ channels: { stub: {} } }", monkeypatch)
    assert run_cli(["channels", "logout", "--channel", "stub"]) == 0
    assert "Logged out and cleared local session." in capsys.readouterr().out
    assert run_cli(["channels", "logout", "--channel", "stub"]) == 0
    assert "No local session to clear." in capsys.readouterr().out


def test_unknown_channel_lists_the_installed_ones(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    write_config(tmp_path, "{}", monkeypatch)
    assert run_cli(["channels", "status", "--channel", "telegram"]) == 1
    err = capsys.readouterr().err
    assert "unknown channel 'telegram'" in err
    assert "zalo" in err
