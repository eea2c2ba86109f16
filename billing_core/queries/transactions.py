"""Transaction rows as read back from the ledger (pages: transaction_page.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

VISIBLE_TYPES = ("usage", "subscription_credit", "bonus", "purchase", "refund", "expiration")


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
    audit_event_id: int | None = None  # the audit event of a row a person caused


@dataclass(frozen=True)
class TransactionPage:
    rows: list[TransactionRow]
    next_cursor: int | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


COLUMNS = (
    "id, created_at, occurred_at, type, amount, balance_after, description, user_id, agent_id, event_id, "
    "reference_type, reference_id, model, input_tokens, cached_input_tokens, output_tokens, tools, "
    "model_price_id, allocations, audit_event_id"
)


def transaction_by_key(connection: Connection, idempotency_key: str) -> TransactionRow | None:
    row = connection.execute(
        text(f"SELECT {COLUMNS} FROM credit_transactions WHERE idempotency_key = :k"),  # noqa: S608
        {"k": idempotency_key},
    ).first()
    return None if row is None else TransactionRow(*row)


def count_charged(connection: Connection, event_ids: list[str]) -> int:
    """How many of these event ids have a usage debit."""
    count: int = connection.execute(
        text("SELECT count(*) FROM credit_transactions WHERE type = 'usage' AND event_id = ANY(:ids)"),
        {"ids": event_ids},
    ).scalar_one()
    return count
