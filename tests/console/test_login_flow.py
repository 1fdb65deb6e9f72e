"""The console's login UI: the channel's progress lines become page steps, the terminal
drawing is left out, the QR image is saved 0600 and sent as a data URL."""

from __future__ import annotations

import stat
from pathlib import Path

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
