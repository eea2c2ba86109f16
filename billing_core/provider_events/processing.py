"""Processing one inbox row: translate, apply, and mark it, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from billing_core.errors import EventWaiting, NotYet, UnknownInboxRow
from billing_core.provider_events import recurrente_events, stripe_events
from billing_core.provider_events.common import Handler
from billing_core.provider_events.inbox import finish, get_row

HANDLERS: dict[str, dict[str, Handler]] = {
    "stripe": stripe_events.HANDLERS,
    "recurrente": recurrente_events.HANDLERS,
}


@dataclass(frozen=True)
class Applied:
    """What became of a stored delivery: its final status, and which event it was."""

    status: str  # processed or ignored
    provider: str
    event_type: str
    external_id: str


def event_label(provider: str, event_type: str) -> str:
    """The event type if the provider's handlers know it, else `other` (a bounded set of names)."""
    return event_type if event_type in HANDLERS.get(provider, {}) else "other"


def process_inbox_row(connection: Connection, row_id: int, now: datetime) -> Applied:
    """Apply a delivery once. EventWaiting (a NotYet) propagates: retry later; any other error
    propagates too, and the caller's rollback leaves the row pending."""
    row = get_row(connection, row_id, lock=True)  # two workers on one row: the second waits, then skips
    if row is None:
        raise UnknownInboxRow(row_id)
    status = row.status
    if status not in ("processed", "ignored"):
        handler = HANDLERS.get(row.provider, {}).get(row.event_type)
        status = "processed" if handler is not None else "ignored"
        if handler is not None:
            try:
                handler(connection, row.payload, now)
            except NotYet as wait:
                raise EventWaiting(str(wait), row.provider, row.event_type) from None
        finish(connection, row_id, status, now)
    return Applied(status, row.provider, row.event_type, row.external_id)
