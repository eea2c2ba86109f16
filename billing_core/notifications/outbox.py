"""The outbox: a notification is written in the transaction of the change that causes it, with an
idempotency key under a unique constraint, so a change that rolls back sends nothing and a cause
repeated (a redelivered message, a replay) sends once. The same statement fans it out into one
delivery per enabled endpoint that wants it; no endpoint wanting it, nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput
from billing_core.notifications.events import EVENT_TYPES, PLATFORM_ONLY

# An endpoint wants an event when it is enabled, belongs to the event's organization or to the
# platform (NULL: every organization), and lists the type or lists none (all).
_WANTS = (
    "e.status = 'enabled' AND (e.event_types IS NULL OR :type = ANY(e.event_types)) "
    "AND (e.organization_id IS NULL OR (e.organization_id = :org AND NOT :platform_only))"
)
_EMIT = text(
    "WITH event AS (INSERT INTO notification_events "  # noqa: S608
    "(event_type, organization_id, payload, idempotency_key) "
    "SELECT :type, :org, CAST(:payload AS jsonb), :key "
    f"WHERE EXISTS (SELECT 1 FROM notification_endpoints e WHERE {_WANTS}) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id) "
    "INSERT INTO notification_deliveries (event_id, endpoint_id) "
    f"SELECT event.id, e.id FROM event JOIN notification_endpoints e ON {_WANTS} RETURNING id"
)


def emit(
    connection: Connection,
    event_type: str,
    organization_id: str | None,
    data: Mapping[str, Any],
    idempotency_key: str,
) -> int:
    """Write one notification (once per key) and its deliveries; returns how many deliveries."""
    if event_type not in EVENT_TYPES:
        raise InvalidInput("event_type", f"unknown notification type {event_type!r}")
    payload = {"type": event_type, "organization_id": organization_id, "data": dict(data)}
    rows = connection.execute(
        _EMIT,
        {
            "type": event_type,
            "org": organization_id,
            "platform_only": event_type in PLATFORM_ONLY,
            "payload": json.dumps(payload, default=str, separators=(",", ":")),
            "key": f"{event_type}:{idempotency_key}",
        },
    ).all()
    return len(rows)
