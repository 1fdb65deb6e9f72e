"""`ReceiptApi`: delivered and seen receipts, batched as the web client does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from zalogate.personal.api_base import NO_RETRY, ApiBase, in_chunks
from zalogate.personal.crypto import compact_json
from zalogate.personal.outgoing import MessageRef, Received
from zalogate.personal.session import ThreadType

__all__ = ["MAX_RECEIPTS_PER_CALL", "ReceiptApi"]

#: Zalo accepts 1 to 50 messages per delivered/seen call.
MAX_RECEIPTS_PER_CALL: Final = 50


class ReceiptApi(ApiBase):
    """Reporting received messages as delivered or seen."""

    def _receipt_entries(self, refs: Sequence[MessageRef]) -> list[dict[str, Any]]:
        # Like the web client: 0 when the field is present, -1 when absent.
        return [
            {
                "cmi": r.cli_msg_id,
                "gmi": r.msg_id,
                "si": r.sender_id,
                "di": "0" if r.thread_id == self.session.uid else r.thread_id,
                "mt": r.msg_type,
                "st": 0 if r.has_st else -1,
                "at": 0 if r.has_at else -1,
                "cmd": 0 if r.has_cmd else -1,
                "ts": 0 if r.has_ts else -1,
            }
            for r in refs
        ]

    def _batches(
        self, messages: Sequence[MessageRef | Received], group: bool
    ) -> list[list[MessageRef]]:
        refs = [m if isinstance(m, MessageRef) else MessageRef.from_message(m) for m in messages]
        # Group batches must share the group (idTo); user batches must share the sender.
        by_thread: dict[str, list[MessageRef]] = {}
        for ref in refs:
            by_thread.setdefault(ref.thread_id if group else ref.sender_id, []).append(ref)
        return [
            list(batch)
            for same in by_thread.values()
            for batch in in_chunks(same, MAX_RECEIPTS_PER_CALL)
        ]

    async def send_delivered(
        self,
        messages: Sequence[MessageRef | Received],
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        seen: bool = False,
    ) -> int:
        """Report messages as delivered, in batches of at most 50; return the call count."""
        group = self._is_group(thread_type)
        calls = 0
        for batch in self._batches(messages, group):
            infos: dict[str, Any] = {"seen": 1 if seen else 0, "data": self._receipt_entries(batch)}
            params: dict[str, Any] = {}
            if group:
                infos["grid"] = batch[0].thread_id
                params["imei"] = self.session.imei
            scope, service = ("group", "group") if group else ("message", "chat")
            await self.http.call(
                "POST",
                self._url(service, f"/api/{scope}/deliveredv2"),
                {"msgInfos": compact_json(infos), **params},
            )
            calls += 1
        return calls

    async def send_seen(
        self,
        messages: Sequence[MessageRef | Received],
        *,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> int:
        """Mark messages as seen, in batches of at most 50; return the call count."""
        group = self._is_group(thread_type)
        calls = 0
        for batch in self._batches(messages, group):
            infos: dict[str, Any] = {"data": self._receipt_entries(batch)}
            params: dict[str, Any] = {}
            if group:
                infos["grid"] = batch[0].thread_id
                params["imei"] = self.session.imei
            else:
                infos["senderId"] = batch[0].sender_id
            scope, service = ("group", "group") if group else ("message", "chat")
            await self.http.call(
                "POST",
                self._url(service, f"/api/{scope}/seenv2"),
                {"msgInfos": compact_json(infos), **params},
                query=NO_RETRY,
            )
            calls += 1
        return calls
