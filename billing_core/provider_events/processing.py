"""Processing one inbox row: translate, apply, and mark it, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from billing_core.errors import UnknownInboxRow
from billing_core.provider_events import recurrente_events, stripe_events
from billing_core.provider_events.common import Handler
from billing_core.provider_events.inbox import finish, get_row

HANDLERS: dict[str, dict[str, Handler]] = {
    "stripe": stripe_events.HANDLERS,
    "recurrente": recurrente_events.HANDLERS,
}


def process_inbox_row(connection: Connection, row_id: int, now: datetime) -> str:
    """Apply a delivery once; returns its final status. NotYet propagates (retry later); any other
    error propagates too, and the caller's rollback leaves the row pending."""
    row = get_row(connection, row_id, lock=True)  # two workers on one row: the second waits, then skips
    if row is None:
        raise UnknownInboxRow(row_id)
    if row.status in ("processed", "ignored"):
        return row.status
    handler = HANDLERS.get(row.provider, {}).get(row.event_type)
    if handler is None:
        finish(connection, row_id, "ignored", now)
        return "ignored"
    handler(connection, row.payload, now)
    finish(connection, row_id, "processed", now)
    return "processed"
