"""The websocket listener endpoint: key frame, pushes, history answers and socket faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from http.cookies import SimpleCookie
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from zalogate.testing.fake_personal import checks, wire
from zalogate.testing.fake_personal.model import (
    FakeGroup,
)
from zalogate.testing.fake_personal.state import COOKIE_SESSION, Device, FakeState, Listener


class Push(FakeState):
    """Websocket listeners and what the test can do to them."""

    async def wait_for_listener(self, uid: str, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until ``uid`` has ``count`` websocket listeners that received the key."""
        async with asyncio.timeout(timeout_s), self._listeners_changed:
            await self._listeners_changed.wait_for(
                lambda: sum(1 for lst in self._listeners if lst.uid == uid) >= count
            )

    def listener_count(self, uid: str) -> int:
        """Open websocket listeners of ``uid``."""
        return sum(1 for lst in self._listeners if lst.uid == uid)

    async def duplicate_connection(self, uid: str) -> None:
        """Tell ``uid``'s listeners another web session opened (frame 3000, then close 3000)."""
        for lst in self._listeners_of(uid):
            with contextlib.suppress(ConnectionClosed):
                await lst.conn.send(wire.encode_frame(3000, 0, {}))
            self._spawn(self._close_later(lst.conn, 3000, "Another connection is opened"))

    async def kick(self, uid: str) -> None:
        """Close ``uid``'s listeners with code 3003 (kick)."""
        for lst in self._listeners_of(uid):
            await lst.conn.close(3003, "kicked")

    async def drop(self, uid: str) -> None:
        """Cut ``uid``'s listeners without a close frame (the client sees 1006)."""
        for lst in self._listeners_of(uid):
            transport = lst.conn.transport
            transport.abort()

    def tamper_next_event(self, uid: str) -> None:
        """Corrupt the GCM tag of the next encrypted event sent to ``uid``."""
        for lst in self._listeners_of(uid):
            lst.tamper_next = True

    async def push_event(self, uid: str, cmd: int, payload: Any, sub_cmd: int = 0) -> None:
        """Push an arbitrary event (``payload`` is the decoded ``.data``) to ``uid``."""
        for lst in self._listeners_of(uid):
            await self._send_event(lst, cmd, sub_cmd, {"data": payload})

    # ------------------------------------------------------------------ websocket

    def _ws_accept(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        jar = SimpleCookie()
        with contextlib.suppress(Exception):
            jar.load(request.headers.get("Cookie", ""))
        morsel = jar.get(COOKIE_SESSION)
        device = self._devices.get(morsel.value) if morsel is not None else None
        if device is None or not device.keys:
            return connection.respond(403, "zpw_sek missing or invalid\n")
        connection.fake_device = device  # type: ignore[attr-defined]
        return None

    async def _ws_handler(self, conn: ServerConnection) -> None:
        device: Device = conn.fake_device  # type: ignore[attr-defined]
        key = os.urandom(32)
        if self.single_listener:
            for old in self._listeners_of(device.uid):
                with contextlib.suppress(ConnectionClosed):
                    await old.conn.send(wire.encode_frame(3000, 0, {}))
                self._spawn(self._close_later(old.conn, 3000, "Another connection is opened"))
        await conn.send(
            wire.encode_frame(1, 1, {"key": base64.b64encode(key).decode(), "encrypt_type": 1})
        )
        listener = Listener(conn, device.uid, device, key)
        self._listeners.append(listener)
        async with self._listeners_changed:
            self._listeners_changed.notify_all()
        try:
            async for frame in conn:
                if isinstance(frame, str):
                    continue
                await self._ws_frame(listener, frame)
        except ConnectionClosed:
            pass
        finally:
            self._listeners.remove(listener)
            async with self._listeners_changed:
                self._listeners_changed.notify_all()

    def _history(
        self, uid: str, *, group: bool, last_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The ``limit`` newest messages of ``uid``'s DMs (or groups) before ``last_id``,
        oldest first, as its own listener would have received them (its own ones as
        ``uidFrom: "0"``)."""
        out: list[dict[str, Any]] = []
        ordered = list(self.messages.values())
        if last_id is not None:
            known = last_id in self.messages
            end = next(i for i, m in enumerate(ordered) if m["msgId"] == last_id) if known else 0
            ordered = ordered[:end]
        for msg in reversed(ordered):
            if (
                group
                and msg["cmd"] == 521
                and uid in self.groups.get(msg["idTo"], _NO_GROUP).members
            ):
                out.append({**msg, "uidFrom": "0"} if msg["uidFrom"] == uid else msg)
            elif not group and msg["cmd"] == 501 and uid in (msg["uidFrom"], msg["idTo"]):
                out.append(
                    {**msg, "uidFrom": "0"} if msg["uidFrom"] == uid else {**msg, "idTo": "0"}
                )
            if len(out) >= limit:
                break
        return out[::-1]

    async def _ws_frame(self, lst: Listener, frame: bytes) -> None:
        try:
            version, cmd, sub_cmd, body = wire.decode_frame(frame)
        except (wire.WireError, ValueError):
            return
        refused = checks.ws_refusal(version, cmd, sub_cmd, body)
        if refused is not None:
            # What real Zalo does with such a frame is unknown; it is never answered here,
            # and the refusal is kept for the test to see.
            self.ws_refusals.append(refused)
            return
        if cmd == 2:
            self.pings[lst.uid] = self.pings.get(lst.uid, 0) + 1
        elif cmd in (510, 511) and sub_cmd == 1:
            self.history_requests.append((lst.uid, cmd, body["lastId"]))
            field_name = "msgs" if cmd == 510 else "groupMsgs"
            history = self._history(
                lst.uid, group=cmd == 511, last_id=body["lastId"], limit=self.history_page_size
            )
            await self._send_event(
                lst, cmd, 1, {"data": {field_name: history}, "req_id": _req_id(body)}
            )
        elif cmd in (610, 611) and sub_cmd == 1:
            field_name = "reacts" if cmd == 610 else "reactGroups"
            await self._send_event(lst, cmd, 1, {"data": {field_name: []}, "req_id": _req_id(body)})


_NO_GROUP = FakeGroup("", "", [])


def _req_id(body: Any) -> Any:
    return body.get("req_id") if isinstance(body, dict) else None
