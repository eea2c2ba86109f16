"""Reading the audit log, newest first: keyset pagination on the id, one fragment per filter
given (as transaction_page.py, for the same reason: every variant uses an index from the cursor)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.queries.transaction_page import filtered

_SELECT = (
    "SELECT id, occurred_at, actor_kind, actor, action, organization_id, target_kind, target_id, "
    "request_id, source_address, details FROM audit_events WHERE true"
)
_FILTERS = {
    "before": " AND id < :before",
    "actor": " AND actor = :actor",
    "action": " AND action = :action",
    "organization": " AND organization_id = :organization",
    "since": " AND occurred_at >= :since",
    "until": " AND occurred_at < :until",
}


@dataclass(frozen=True)
class AuditEvent:
    id: int
    occurred_at: datetime
    actor_kind: str
    actor: str
    action: str
    organization_id: str | None
    target_kind: str | None
    target_id: str | None
    request_id: str | None
    source_address: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_before_id: int | None  # the id the next (older) page starts before, if there is one


def audit_page(
    connection: Connection,
    *,
    limit: int = 50,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    organization: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    params: dict[str, object] = {"limit": limit + 1}
    given = {
        "before": before_id,
        "actor": actor,
        "action": action,
        "organization": organization,
        "since": since,
        "until": until,
    }
    sql = filtered(_SELECT, _FILTERS, given, params)
    events = [AuditEvent(*row) for row in connection.execute(text(sql), params)]
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(events, events[-1].id if more and events else None)
