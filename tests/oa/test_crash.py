"""A gateway killed between saving a refreshed pair and using it keeps the grant."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from zalogate.oa import OAuthClient, TokenFile, TokenKeeper, ZaloOA
from zalogate.testing import FakeZaloOA

from .conftest import granted

_WORKER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from zalogate.oa import OAuthClient, TokenFile, TokenKeeper

    class DiesAfterSave(TokenFile):
        def save(self, pair):
            super().save(pair)
            os.kill(os.getpid(), signal.SIGKILL)  # before any caller gets the new token

    async def main():
        directory, oa_id, app_id, secret, url = sys.argv[1:]
        oauth = OAuthClient(app_id, secret, oauth_url=url)
        keeper = TokenKeeper(oauth, DiesAfterSave(Path(directory), oa_id), oa_id=oa_id)
        await keeper.access_token()

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_a_kill_after_the_save_keeps_the_grant(
    fake: FakeZaloOA, oauth: OAuthClient, tmp_path: Path
) -> None:
    store = granted(fake, tmp_path, expires_in=60)
    old = store.load()
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WORKER,
        str(tmp_path),
        fake.oa_id,
        fake.app_id,
        fake.secret_key,
        fake.base_url,
    )
    assert await worker.wait() == -signal.SIGKILL
    assert fake.refresh_calls == 1
    saved = TokenFile(tmp_path, fake.oa_id).load()
    assert saved is not None
    assert old is not None
    assert saved.refresh_token != old.refresh_token
    # The restarted gateway uses the saved pair, and can still refresh with it.
    keeper = TokenKeeper(oauth, TokenFile(tmp_path, fake.oa_id), oa_id=fake.oa_id)
    client = ZaloOA(keeper, api_url=fake.base_url)
    fake.user("42")
    await client.send_text("42", "still here")
    assert fake.refresh_calls == 1
    await keeper.force_refresh(saved.access_token)
    assert fake.refresh_calls == 2
    assert keeper.reauth_reason is None
    await client.aclose()


_RACER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from zalogate.oa import OAuthClient, TokenFile, TokenKeeper

    async def main():
        directory, oa_id, app_id, secret, url, go = sys.argv[1:]
        oauth = OAuthClient(app_id, secret, oauth_url=url)
        keeper = TokenKeeper(oauth, TokenFile(Path(directory), oa_id), oa_id=oa_id)
        while not Path(go).exists():  # start together
            await asyncio.sleep(0.005)
        print(await keeper.access_token())
        await oauth.aclose()

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_gateways_in_separate_processes_refresh_once(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    granted(fake, tmp_path, expires_in=60)
    go = tmp_path / "go"
    args = [str(tmp_path), fake.oa_id, fake.app_id, fake.secret_key, fake.base_url, str(go)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _RACER, *args, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    await asyncio.sleep(0.5)  # let them import and wait
    go.touch()
    outputs = [(await w.communicate())[0].decode().strip() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert fake.refresh_calls == 1
    assert len(set(outputs)) == 1
    saved = TokenFile(tmp_path, fake.oa_id).load()
    assert saved is not None
    assert saved.access_token == outputs[0]
