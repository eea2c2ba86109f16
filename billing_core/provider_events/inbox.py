"""The durable inbox of payment-provider webhooks: one row per (provider, external id)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

PROVIDERS = ("stripe", "recurrente")
# rejected: an event that can never apply as it is (its `reason` says why); replaying it applies it
# again, e.g. once the plan catalog knows its price. `failed` is allowed by the schema, never set.
STATUSES = ("pending", "processed", "ignored", "rejected", "failed")


@dataclass(frozen=True)
class InboxRow:
    id: int
    provider: str
    external_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    error: str | None
    received_at: datetime
    processed_at: datetime | None
    reason: str | None = None  # why a rejected row cannot apply (error holds the detail)


_COLUMNS = (
    "id, provider, external_id, event_type, payload, status, attempts, error, received_at, processed_at, "
    "reason"
)


def record_delivery(
    connection: Connection,
    provider: str,
    external_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> int | None:
    """Store a verified delivery; returns the new row's id, or None if it was already stored."""
    row_id = connection.execute(
        text(
            "INSERT INTO webhook_inbox (provider, external_id, event_type, payload, received_at) "
            "VALUES (:p, :x, :t, CAST(:payload AS jsonb), :now) "
            "ON CONFLICT (provider, external_id) DO NOTHING RETURNING id"
        ),
        {"p": provider, "x": external_id, "t": event_type, "payload": json.dumps(payload), "now": now},
    ).scalar()
    return None if row_id is None else int(row_id)


def get_row(connection: Connection, row_id: int, *, lock: bool = False) -> InboxRow | None:
    sql = f"SELECT {_COLUMNS} FROM webhook_inbox WHERE id = :id" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = connection.execute(text(sql), {"id": row_id}).first()
    return None if row is None else InboxRow(*row)


def list_rows(connection: Connection, *, status: str | None = None, limit: int = 200) -> list[InboxRow]:
    result = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM webhook_inbox "  # noqa: S608
            "WHERE (CAST(:s AS text) IS NULL OR status = :s) ORDER BY id DESC LIMIT :limit"
        ),
        {"s": status, "limit": limit},
    )
    return [InboxRow(*r) for r in result]


def finish(
    connection: Connection,
    row_id: int,
    status: str,
    now: datetime,
    error: str | None = None,
    reason: str | None = None,
) -> None:
    connection.execute(
        text(
            "UPDATE webhook_inbox SET status = :s, error = :e, reason = :r, processed_at = :now, "
            "attempts = attempts + 1 WHERE id = :id"
        ),
        {"s": status, "e": error, "r": reason, "now": now, "id": row_id},
    )


def stale_pending(
    connection: Connection, now: datetime, older_than: timedelta, limit: int = 500
) -> list[int]:
    """Rows still pending a while after they arrived: their enqueue may have been lost in a crash."""
    rows = connection.execute(
        text(
            "SELECT id FROM webhook_inbox WHERE status = 'pending' AND received_at <= :cutoff "
            "ORDER BY id LIMIT :limit"
        ),
        {"cutoff": now - older_than, "limit": limit},
    )
    return [int(r) for (r,) in rows]


def stored_object(
    connection: Connection, provider: str, object_id: str, event_types: tuple[str, ...]
) -> dict[str, Any] | None:
    """The object of the latest stored event about `object_id` (e.g. the subscription an invoice
    pays, when the invoice itself does not carry its metadata or price); None when no such event
    arrived yet."""
    row = connection.execute(
        text(
            "SELECT payload -> 'data' -> 'object' FROM webhook_inbox "
            "WHERE provider = :p AND event_type = ANY(:types) "
            "AND payload -> 'data' -> 'object' ->> 'id' = :id ORDER BY id DESC LIMIT 1"
        ),
        {"p": provider, "types": list(event_types), "id": object_id},
    ).first()
    return dict(row[0]) if row is not None and isinstance(row[0], dict) else None


def stored_purchase_of_payment(connection: Connection, payment_intent: str) -> str | None:
    """The purchase id in the metadata of a stored Stripe event about this payment intent (its
    checkout session, or the payment intent itself), for a refund that arrives before them."""
    row = connection.execute(
        text(
            "SELECT payload -> 'data' -> 'object' -> 'metadata' ->> 'purchase_id' FROM webhook_inbox "
            "WHERE provider = 'stripe' AND (payload -> 'data' -> 'object' ->> 'payment_intent' = :pi "
            "OR payload -> 'data' -> 'object' ->> 'id' = :pi) "
            "AND payload -> 'data' -> 'object' -> 'metadata' ? 'purchase_id' ORDER BY id DESC LIMIT 1"
        ),
        {"pi": payment_intent},
    ).first()
    return None if row is None or row[0] is None else str(row[0])
