"""The zalouser commands end to end: the real CLI against FakeZaloPersonal on its own thread.

``channels login`` with a simulated phone acting from another thread (scan and confirm,
decline, codes that expire), ``channels status --probe``, ``message send`` to a user and to a
group, ``directory self | peers list | groups list | groups members`` and ``channels logout``.
The config points ``channels.zalouser.apiHosts`` / ``websocketUrl`` at the fake.
"""

from __future__ import annotations

import functools
import hashlib
import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.login import LOGIN_DECLINED, LOGIN_EXPIRED
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import QrSession

from .conftest import run_cli

BOT, ALICE, CAROL, GROUP = (
    "5100000000000000001",
    "5200000000000000002",
    "5200000000000000003",
    "5900",
)
UA_U_MD5 = hashlib.md5(b"u", usedforsecurity=False).hexdigest()
"""The imei suffix that matches the user agent ``u`` (Zalo binds an imei to its agent)."""
Action = Callable[[FakeZaloPersonal, QrSession], bool]
"""What the phone does with one new QR code; True when it is done with the login."""


@pytest.fixture
def fake() -> Iterator[FakeZaloPersonal]:
    fake = FakeZaloPersonal(long_poll_s=0.2)
    fake.start_in_thread()

    def world() -> None:
        fake.add_account(BOT, "Trợ lý Bot", friends=(ALICE, CAROL))
        fake.add_account(ALICE, "Alice Nguyễn")
        fake.add_account(CAROL, "Carol")
        fake.add_group(GROUP, "Nhóm dự án", [BOT, ALICE, CAROL])

    fake.run(world)
    yield fake
    fake.stop_thread()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeZaloPersonal) -> Path:
    state = tmp_path / "state"
    config = tmp_path / "zalogate.json5"
    section = {
        "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
        "websocketUrl": fake.ws_url,
    }
    config.write_text(json.dumps({"channels": {"zalouser": section}}), encoding="utf-8")
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(state))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(config))
    for name in ("ZALOUSER_PROFILE", "ZCA_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return state


class Phone:
    """The phone of the bot's account, acting on each new QR code from its own thread."""

    def __init__(self, fake: FakeZaloPersonal, action: Action) -> None:
        self.fake = fake
        self.action = action
        self.codes: list[str] = []
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phone", daemon=True)

    def __enter__(self) -> Phone:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    session = self.fake.run(self.fake.qr.wait_generated(timeout_s=0.2))
                except TimeoutError:
                    continue
                self.codes.append(session.code)
                if self.fake.run(functools.partial(self.action, self.fake, session)):
                    return
        except BaseException as exc:  # surfaces in the test thread
            self.failure = exc


def scan_and_confirm(fake: FakeZaloPersonal, session: QrSession) -> bool:
    fake.qr.scan(BOT)
    fake.qr.confirm()
    return True


def scan_and_decline(fake: FakeZaloPersonal, session: QrSession) -> bool:
    fake.qr.scan(BOT)
    fake.qr.decline()
    return True


def let_expire(fake: FakeZaloPersonal, session: QrSession) -> bool:
    fake.qr.expire()
    return False


def login(fake: FakeZaloPersonal, action: Action = scan_and_confirm) -> tuple[int, list[str]]:
    with Phone(fake, action) as phone:
        code = run_cli(["channels", "login", "--channel", "zalouser"])
    return code, phone.codes


def test_login_draws_the_qr_saves_it_private_and_the_phone_confirms(
    state_dir: Path, fake: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    code, codes = login(fake)
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(codes) == 1
    assert "▀" in out or "█" in out  # the terminal drawing
    png = state_dir / "tmp" / "zalouser-login-qr-default.png"
    assert f"QR image saved to: {png}" in out
    assert png.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert "Scanned by Trợ lý Bot. Waiting for the confirmation on the phone..." in out
    session = state_dir / "credentials" / "zalouser" / "default.json"
    assert f"Login successful. Logged in as Trợ lý Bot ({BOT}); session saved to {session}" in out
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(session.parent.stat().st_mode) == 0o700
    stored = CredentialStore(state_dir).load("default")
    assert stored is not None
    for cookie in stored.credentials.cookies:
        assert str(cookie["value"]) not in out

    # A second login keeps the working session (no terminal to ask: the default is keep).
    code, codes = login(fake)
    out = capsys.readouterr().out
    assert code == 0, out
    assert codes == []
    assert "Zalo is already linked (Trợ lý Bot)." in out


def test_a_declined_login_fails_clearly_and_saves_nothing(
    state_dir: Path, fake: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = login(fake, scan_and_decline)
    captured = capsys.readouterr()
    assert code == 1
    assert "The login was declined on the phone." in captured.out
    assert LOGIN_DECLINED in captured.err
    assert "Traceback" not in captured.err
    assert not (state_dir / "credentials" / "zalouser" / "default.json").exists()


def test_expired_codes_are_renewed_then_the_login_gives_up(
    state_dir: Path, fake: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    code, codes = login(fake, let_expire)
    captured = capsys.readouterr()
    assert code == 1
    assert len(codes) == 3  # the first code and two renewals
    assert len(set(codes)) == 3
    assert captured.out.count("The QR code expired; here is a new one.") == 2
    assert LOGIN_EXPIRED in captured.err
    assert not (state_dir / "credentials" / "zalouser" / "default.json").exists()


def json_out(capsys: pytest.CaptureFixture[str], args: list[str]) -> object:
    assert run_cli(args) == 0
    return json.loads(capsys.readouterr().out)


def test_status_send_directory_and_logout_after_a_login(
    state_dir: Path, fake: FakeZaloPersonal, capsys: pytest.CaptureFixture[str]
) -> None:
    status = ["channels", "status", "--channel", "zalouser", "--probe"]
    assert run_cli(status) == 1  # not logged in: the probe fails, so does --probe
    out = capsys.readouterr().out
    assert "zalogate channels login --channel zalouser" in out
    assert run_cli([*status, "--json"]) == 1
    before = json.loads(capsys.readouterr().out)
    assert isinstance(before, dict)
    (row,) = before["channels"][0]["accounts"]
    assert (row["configured"], row["probe"]["ok"]) == (False, False)
    assert any("channels login --channel zalouser" in w for w in row["warnings"])

    assert login(fake)[0] == 0
    capsys.readouterr()

    report = json_out(capsys, [*status, "--json"])
    assert isinstance(report, dict)
    (row,) = report["channels"][0]["accounts"]
    assert (row["configured"], row["profile"]) == (True, "default")
    assert row["probe"]["ok"] is True
    assert row["probe"]["identity"]["userId"] == BOT
    assert row["probe"]["identity"]["displayName"] == "Trợ lý Bot"
    assert "zpw_sek" not in json.dumps(report)

    dm = ["message", "send", "--channel", "zalouser", "--target", ALICE, "-m", "chào **Alice**"]
    assert run_cli(dm) == 0
    capsys.readouterr()
    to_group = ["message", "send", "--channel", "zalouser", "--target", f"group:{GROUP}"]
    receipt = json_out(capsys, [*to_group, "-m", "xin chào nhóm", "--json"])
    assert isinstance(receipt, dict)
    texts = fake.run(lambda: [r for r in fake.sent if r.kind == "text"])
    assert [(r.sender, r.thread_id, r.thread_type, r.text) for r in texts] == [
        (BOT, ALICE, "user", "chào Alice"),
        (BOT, GROUP, "group", "xin chào nhóm"),
    ]
    assert texts[1].msg_id is not None
    assert texts[1].msg_id in json.dumps(receipt)

    me = json_out(capsys, ["directory", "self", "--channel", "zalouser", "--json"])
    assert isinstance(me, dict)
    assert (me["id"], me["name"]) == (BOT, "Trợ lý Bot")

    peers = json_out(capsys, ["directory", "peers", "list", "--channel", "zalouser", "--json"])
    assert isinstance(peers, list)
    assert sorted((p["id"], p["name"]) for p in peers) == [
        (ALICE, "Alice Nguyễn"),
        (CAROL, "Carol"),
    ]
    found = json_out(
        capsys, ["directory", "peers", "list", "--channel", "zalouser", "-q", "nguyễn", "--json"]
    )
    assert isinstance(found, list)
    assert [p["id"] for p in found] == [ALICE]

    groups = json_out(capsys, ["directory", "groups", "list", "--channel", "zalouser", "--json"])
    assert isinstance(groups, list)
    (group,) = groups
    assert (group["id"], group["name"], group["kind"]) == (f"group:{GROUP}", "Nhóm dự án", "group")
    assert group["memberCount"] == 3

    members_cmd = ["directory", "groups", "members", f"group:{GROUP}", "--channel", "zalouser"]
    members = json_out(capsys, [*members_cmd, "--json"])
    assert isinstance(members, list)
    assert sorted(m["id"] for m in members) == sorted([BOT, ALICE, CAROL])
    assert {m["id"]: m["name"] for m in members}[ALICE] == "Alice Nguyễn"

    assert run_cli(["channels", "logout", "--channel", "zalouser"]) == 0
    assert "Logged out and cleared local session." in capsys.readouterr().out
    assert not (state_dir / "credentials" / "zalouser" / "default.json").exists()
    assert run_cli(dm) == 1
    assert "zalogate channels login --channel zalouser" in capsys.readouterr().err
    assert run_cli(["channels", "logout", "--channel", "zalouser"]) == 0
    assert "No local session to clear." in capsys.readouterr().out


def test_cookie_login_imports_a_browser_session_after_a_probe(
    state_dir: Path, fake: FakeZaloPersonal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--cookies FILE`` (a J2TEAM-style export with imei and userAgent added): probed, then
    saved 0600; no cookie value is printed."""
    creds = fake.run(lambda: fake.credentials(BOT, domain="127.0.0.1"))
    export = {
        "url": "https://chat.zalo.me",
        "cookies": [
            {"name": c["key"], "value": c["value"], "domain": c["domain"], "path": "/"}
            for c in creds["cookie"]
        ],
        "imei": creds["imei"],
        "userAgent": creds["userAgent"],
    }
    cookie_file = tmp_path / "zalo-cookies.json"
    cookie_file.write_text(json.dumps(export), encoding="utf-8")
    code = run_cli(["channels", "login", "--channel", "zalouser", "--cookies", str(cookie_file)])
    out = capsys.readouterr().out
    assert code == 0, out
    session = state_dir / "credentials" / "zalouser" / "default.json"
    assert f"Login successful: Trợ lý Bot ({BOT}); session saved to {session}." in out
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    for cookie in creds["cookie"]:
        assert str(cookie["value"]) not in out
    stored = CredentialStore(state_dir).load("default")
    assert stored is not None
    assert stored.credentials.imei == creds["imei"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        (json.dumps([{"name": "zpw_sek", "value": "x", "domain": ".zalo.me"}]), "no imei"),
        (
            json.dumps({"cookie": [{"name": "a", "value": "b"}], "imei": "i", "userAgent": "u"}),
            "no zpw_sek",
        ),
        (
            json.dumps(
                {
                    "cookie": [{"name": "zpw_sek", "value": "stale", "domain": "127.0.0.1"}],
                    "imei": f"0b6c2d5e-1111-4a2b-9c3d-0e1f2a3b4c5d-{UA_U_MD5}",
                    "userAgent": "u",
                }
            ),
            "Zalo refused the session",
        ),
    ],
)
def test_cookie_login_refuses_bad_files_and_rejected_sessions_saving_nothing(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, problem: str
) -> None:
    cookie_file = tmp_path / "cookies.json"
    cookie_file.write_text(body, encoding="utf-8")
    code = run_cli(["channels", "login", "--channel", "zalouser", "--cookies", str(cookie_file)])
    captured = capsys.readouterr()
    assert code == 1
    assert problem in captured.err
    assert "Traceback" not in captured.err
    assert "stale" not in captured.err
    assert not (state_dir / "credentials" / "zalouser" / "default.json").exists()
