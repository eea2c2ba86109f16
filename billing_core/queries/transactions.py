"""Transaction history, newest first, with keyset pagination on the transaction id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

VISIBLE_TYPES = ("usage", "subscription_credit", "bonus", "refund", "expiration")


@dataclass(frozen=True)
class TransactionRow:
    id: int
    created_at: datetime
    occurred_at: datetime
    type: str
    amount: int
    balance_after: int
    description: str
    user_id: str | None
    agent_id: str | None
    event_id: str | None
    reference_type: str
    reference_id: str
    model: str | None
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    tools: dict[str, int] | None
    model_price_id: int | None
    allocations: list[dict[str, Any]]


@dataclass(frozen=True)
class TransactionPage:
    rows: list[TransactionRow]
    next_cursor: int | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def list_transactions(
    connection: Connection,
    organization_id: str,
    *,
    limit: int = 50,
    before_id: int | None = None,
    type_: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
) -> TransactionPage:
    """One page of history; pass the page's `next_cursor` as `before_id` for the next one."""
    result = connection.execute(
        text(
            "SELECT id, created_at, occurred_at, type, amount, balance_after, description, user_id, "
            "agent_id, event_id, reference_type, reference_id, model, input_tokens, "
            "cached_input_tokens, output_tokens, tools, model_price_id, allocations "
            "FROM credit_transactions WHERE organization_id = :org "
            "AND (CAST(:before AS bigint) IS NULL OR id < :before) "
            "AND (CAST(:type AS text) IS NULL OR type = :type) "
            "AND (CAST(:user AS text) IS NULL OR user_id = :user) "
            "AND (CAST(:agent AS text) IS NULL OR agent_id = :agent) "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {
            "org": organization_id,
            "before": before_id,
            "type": type_,
            "user": user_id,
            "agent": agent_id,
            "limit": limit + 1,
        },
    )
    rows = [TransactionRow(*r) for r in result]
    more = len(rows) > limit
    rows = rows[:limit]
    return TransactionPage(rows, rows[-1].id if more and rows else None)


def count_charged(connection: Connection, event_ids: list[str]) -> int:
    """How many of these event ids have a usage debit."""
    count: int = connection.execute(
        text("SELECT count(*) FROM credit_transactions WHERE type = 'usage' AND event_id = ANY(:ids)"),
        {"ids": event_ids},
    ).scalar_one()
    return count
