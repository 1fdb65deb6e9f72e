"""The QR-login echo example of docs/personal-protocol.md runs against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import re
import stat
from pathlib import Path
from typing import Any

from zalogate.testing import FakeZaloPersonal

DOC = Path(__file__).parents[2] / "docs" / "personal-protocol.md"
BOT, ALICE = "1001", "2001"


def example_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return str(blocks[0])


def test_example_is_about_fifteen_lines() -> None:
    code = [line for line in example_source().splitlines() if line.strip()]
    assert len(code) <= 18


async def test_docs_echo_example_logs_in_by_qr_and_echoes(tmp_path: Path) -> None:
    async with FakeZaloPersonal(auto_approve_qr=BOT, long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        creds = tmp_path / "zalo-credentials.json"
        source = (
            example_source()
            .replace(
                "ZaloPersonal()",
                "ZaloPersonal(endpoints=Endpoints(id_base=BASE, wpa_base=BASE, jr_base=BASE,"
                " ws_url_override=WS))",
            )
            .replace('"zalo-credentials.json"', repr(str(creds)))
            .replace("asyncio.run(main())", "")
        )
        namespace: dict[str, Any] = {"BASE": fake.base_url, "WS": fake.ws_url}
        exec("from zalogate.personal import Endpoints\n" + source, namespace)  # noqa: S102
        task = asyncio.create_task(namespace["main"]())
        try:
            await fake.wait_for_listener(BOT)
            await fake.user(ALICE).says_to(BOT, "ping")
            echo = await fake.wait_for_sent(kind="text", thread_id=ALICE, text="ping")
            assert echo.sender == BOT
            assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
