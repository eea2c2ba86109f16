"""Processing one inbox row: translate, apply, and mark it, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from billing_core.errors import (
    BillingError,
    EventWaiting,
    InvalidInput,
    NotYet,
    UnapplicableEvent,
    UnknownInboxRow,
    UnknownOrganization,
    UnknownPack,
    UnknownPlan,
)
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

    status: str  # processed, ignored or rejected
    provider: str
    event_type: str
    external_id: str


def event_label(provider: str, event_type: str) -> str:
    """The event type if the provider's handlers know it, else `other` (a bounded set of names)."""
    return event_type if event_type in HANDLERS.get(provider, {}) else "other"


def _never_applies(error: BillingError) -> tuple[str, str] | None:
    """The rejection reason of an error that retrying cannot cure (the event or our catalog must
    change first), with its detail; None for any other error."""
    if isinstance(error, UnapplicableEvent):
        return error.reason, error.detail
    if isinstance(error, UnknownOrganization):
        return "unknown_organization", str(error)
    if isinstance(error, UnknownPlan | UnknownPack):
        return "unknown_plan" if isinstance(error, UnknownPlan) else "unknown_pack", str(error)
    if isinstance(error, InvalidInput):
        return "invalid_event", str(error)
    return None


def process_inbox_row(connection: Connection, row_id: int, now: datetime) -> Applied:
    """Apply a delivery once. An event that can never apply as it is (_never_applies) is parked at
    once: the row becomes `rejected` with its reason, its partial effects undone, and is applied
    again only when replayed. EventWaiting (a NotYet) propagates: retry later; any other error
    propagates too, and the caller's rollback leaves the row pending."""
    row = get_row(connection, row_id, lock=True)  # two workers on one row: the second waits, then skips
    if row is None:
        raise UnknownInboxRow(row_id)
    applied = Applied(row.status, row.provider, row.event_type, row.external_id)
    if row.status in ("processed", "ignored"):
        return applied
    handler = HANDLERS.get(row.provider, {}).get(row.event_type)
    if handler is None:
        finish(connection, row_id, "ignored", now)
        return replace(applied, status="ignored")
    try:
        with connection.begin_nested():  # a rejected event leaves nothing behind
            handler(connection, row.payload, now)
    except NotYet as wait:
        raise EventWaiting(str(wait), row.provider, row.event_type) from None
    except BillingError as error:
        rejection = _never_applies(error)
        if rejection is None:
            raise
        reason, detail = rejection
        finish(connection, row_id, "rejected", now, error=detail[:1000], reason=reason)
        return replace(applied, status="rejected")
    finish(connection, row_id, "processed", now)
    return replace(applied, status="processed")
