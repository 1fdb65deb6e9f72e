"""A personal account's saved session, shared by the nodes of a cluster.

The session file (cookies, imei, user agent) lives in each node's state dir; with a
``SessionVault`` (``gateway.cluster.sessionKey``) it also goes, sealed, to the cluster: after
every save on the node that logged in or runs the account (a QR login, a cookie import, the
cookies Zalo refreshed), and before a run the node taking the account over writes the vault's
copy over an older file of its own. So an account moves to another node with its login, and
keeps its device identity (the same imei) at Zalo. Without a vault, nothing changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.traits import CHANNEL_ID
from zalogate.core.shared_state import SessionVault
from zalogate.store import write_private_file

__all__ = ["SessionSync"]

log = logging.getLogger("zalogate.channels.zalouser")


class SessionSync:
    """Keeps ``store``'s files and ``vault`` (None: no cluster) in step, per profile."""

    def __init__(self, store: CredentialStore, vault: SessionVault | None) -> None:
        self._store = store
        self._vault = vault
        self._pushes: set[asyncio.Task[None]] = set()

    def changed(self, profile: str) -> None:
        """A file was saved or deleted: hand it to the vault (in the background)."""
        if self._vault is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # saved outside the event loop: the next run's save pushes it
            return
        task = loop.create_task(self.push(profile))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def push(self, profile: str) -> None:
        """Put this node's file of ``profile`` in the vault (or forget it there)."""
        if self._vault is None:
            return
        name = (CHANNEL_ID, profile.strip().lower() or "default")
        try:
            path = self._store.path(profile)
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                await self._vault.forget(name)
                return
            document = {"savedAt": path.stat().st_mtime, "file": body}
            await self._vault.save(name, json.dumps(document).encode())
        except Exception as exc:  # the next save or run tries again
            log.warning("session of profile %r not shared with the cluster: %s", profile, exc)

    async def pull(self, profile: str) -> None:
        """Before a run: the vault's session over this node's file when it is newer."""
        if self._vault is None:
            return
        name = (CHANNEL_ID, profile.strip().lower() or "default")
        try:
            raw = await self._vault.load(name)
        except Exception as exc:  # log in with what this node has
            log.warning("shared session of profile %r not read: %s", profile, exc)
            return
        if raw is None:
            return
        try:
            document = json.loads(raw)
            saved_at, body = float(document["savedAt"]), document["file"]
        except (ValueError, KeyError, TypeError):
            return
        path = self._store.path(profile)
        try:
            mine = path.stat().st_mtime
        except FileNotFoundError:
            mine = -1.0
        if saved_at <= mine:
            return
        data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
        write_private_file(path, data)
        # Dated as the vault's copy: this node's next push only follows a change of its own.
        os.utime(path, (time.time(), saved_at))
        log.info("profile %r: logged in with the session the cluster shares", profile)

    async def aclose(self) -> None:
        """Let the pushes under way finish."""
        if self._pushes:
            await asyncio.gather(*self._pushes, return_exceptions=True)
