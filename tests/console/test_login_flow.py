"""The console's login UI: the channel's progress lines become page steps, the terminal
drawing is left out, the QR image is saved 0600 and sent as a data URL, a consent link is
sent as a link (a web one only)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zalogate.cli.login_ui import ConsoleLoginUI
from zalogate.console.login_flow import WebLoginUI, step_of


def test_progress_lines_become_steps() -> None:
    assert step_of("Scanned by Zalogate Bot. Waiting for the confirmation...") == "scanned"
    assert step_of("Confirmed. Finishing the login...") == "confirmed"
    assert step_of("The login was declined on the phone.") == "declined"
    assert step_of("The QR code expired; here is a new one.") == "expired"
    assert step_of("Scan the QR code with the Zalo app") == "info"


async def test_the_ui_streams_the_qr_and_answers_with_the_operators_choice(
    tmp_path: Path,
) -> None:
    ui = WebLoginUI(tmp_path / "qr.png", replace=True)
    assert await ui.confirm("Replace this session?") is True
    ui.info("█▀▀▀█ ▄▄\n█ ███ █")
    path = await ui.show_qr(b"\x89PNG fake")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    steps = [event.step for event in ui.events]
    assert steps == ["info", "qr"]
    assert (ui.events[1].qr or "").startswith("data:image/png;base64,")
    seen = [event.step async for event in ui.follow(lambda: True)]
    assert seen == ["info", "qr"]


async def test_a_consent_link_is_streamed_as_a_link_and_only_a_web_one(tmp_path: Path) -> None:
    ui = WebLoginUI(tmp_path / "qr.png", replace=False)
    ui.show_link("https://oauth.zaloapp.com/v4/oa/permission?app_id=1", "Allow access:")
    [event] = ui.events
    assert (event.step, event.text) == ("link", "Allow access:")
    assert event.link == "https://oauth.zaloapp.com/v4/oa/permission?app_id=1"
    with pytest.raises(ValueError, match="not a web link"):
        ui.show_link("javascript:alert(1)", "Allow access:")
    assert len(ui.events) == 1


def test_the_terminal_prints_a_link_as_its_label_then_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ConsoleLoginUI(tmp_path, "oa", "default").show_link("https://example.test/allow", "Allow:")
    assert capsys.readouterr().out.splitlines()[-2:] == ["Allow:", "https://example.test/allow"]
