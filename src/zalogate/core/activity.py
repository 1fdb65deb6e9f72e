"""What the inbox journal and the delivery records say about an account's last activity.

The queries on ``inbox_entries`` (:mod:`zalogate.core.ingress`) and ``pipeline_deliveries``
(:mod:`zalogate.core.pipeline`) that ``channels status`` needs when no gateway is running:
the last admitted message, the last reply that went out, the last error of either.
"""

from __future__ import annotations

from dataclasses import dataclass

from zalogate.store import Store

__all__ = ["AccountActivity", "account_activity"]


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """An account's last recorded activity (epoch milliseconds), from earlier gateway runs."""

    last_inbound_at: int | None = None
    last_outbound_at: int | None = None
    last_error: str | None = None


async def account_activity(store: Store, channel: str, account_id: str) -> AccountActivity:
    """The last inbound message, outbound reply and error recorded for one account."""
    key = (channel, account_id)
    inbound = await store.fetchone(
        "SELECT MAX(admitted_at_ms) AS at FROM inbox_entries WHERE channel = ? AND account_id = ?",
        key,
    )
    outbound = await store.fetchone(
        "SELECT MAX(created_at_ms) AS at FROM pipeline_deliveries"
        " WHERE channel = ? AND account_id = ? AND status IN ('sent', 'partial')",
        key,
    )
    errors = await store.fetchall(
        "SELECT at, error FROM ("
        " SELECT COALESCE(finished_at_ms, admitted_at_ms) AS at, last_error AS error"
        " FROM inbox_entries WHERE channel = ? AND account_id = ? AND last_error IS NOT NULL"
        " UNION ALL SELECT created_at_ms AS at, error FROM pipeline_deliveries"
        " WHERE channel = ? AND account_id = ? AND error IS NOT NULL"
        ") ORDER BY at DESC LIMIT 1",
        (*key, *key),
    )
    return AccountActivity(
        last_inbound_at=inbound["at"] if inbound else None,
        last_outbound_at=outbound["at"] if outbound else None,
        last_error=errors[0]["error"] if errors else None,
    )
