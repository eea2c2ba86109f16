"""Delivering notifications at least once: due deliveries are leased to the queue, each attempt is
logged, a failure is retried with exponential backoff over about a day, and an endpoint that has
failed for days is disabled (and the platform-wide endpoints are told).

A lease moves a delivery's next attempt a few minutes ahead while its job is on the queue: the
dispatcher of another process does not send it twice, and if the job is lost it comes due again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from billing_core.errors import UnknownDelivery
from billing_core.notifications.events import ENDPOINT_DISABLED
from billing_core.notifications.outbox import emit

# After the first attempt: 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h (about 24 h in all).
BACKOFF = tuple(timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800))
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class DeliveryJob:
    """One delivery to attempt now, with what to send and where."""

    delivery_id: int
    event_id: int
    event_type: str
    body: str
    endpoint_id: int
    url: str
    secret: str
    attempts: int


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None  # None: no HTTP answer (refused address, timeout, connection error)
    latency_ms: int
    error: str | None = None
    response_excerpt: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def lease_due(connection: Connection, now: datetime, limit: int = 200) -> list[int]:
    """Deliveries due now, leased for LEASE (the caller enqueues them after committing)."""
    rows = connection.execute(
        text(
            "UPDATE notification_deliveries SET next_attempt_at = :until WHERE id IN ("
            "SELECT id FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= :now "
            "ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING id"
        ),
        {"now": now, "until": now + LEASE, "limit": limit},
    )
    return sorted(row_id for (row_id,) in rows)


def claim(connection: Connection, delivery_id: int) -> DeliveryJob | None:
    """The delivery if it is still pending (locked until the caller's commit), else None: a job
    that arrives twice, or after a replay delivered it, does nothing."""
    row = connection.execute(
        text(
            "SELECT d.id, n.id, n.event_type, n.payload, n.created_at, e.id, e.url, e.secret, d.attempts, "
            "e.status FROM notification_deliveries d JOIN notification_events n ON n.id = d.event_id "
            "JOIN notification_endpoints e ON e.id = d.endpoint_id "
            "WHERE d.id = :id AND d.status = 'pending' FOR UPDATE OF d SKIP LOCKED"
        ),
        {"id": delivery_id},
    ).first()
    if row is None:
        return None
    delivery, event, event_type, payload, created_at, endpoint, url, secret, attempts, status = row
    if status != "enabled":
        _finish(connection, delivery, "failed", None, "the endpoint is disabled")
        return None
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": created_at.isoformat(),
            "data": payload["data"],
            "organization_id": payload.get("organization_id"),
        },
        separators=(",", ":"),
    )
    return DeliveryJob(delivery, event, event_type, body, endpoint, url, secret, attempts)


def _finish(
    connection: Connection, delivery_id: int, status: str, code: int | None, error: str | None
) -> None:
    connection.execute(
        text(
            "UPDATE notification_deliveries SET status = :status, last_status_code = :code, "
            "last_error = :error, delivered_at = CASE WHEN :status = 'delivered' THEN now() END "
            "WHERE id = :id"
        ),
        {"status": status, "code": code, "error": error, "id": delivery_id},
    )


def record_attempt(
    connection: Connection,
    job: DeliveryJob,
    outcome: AttemptOutcome,
    now: datetime,
    *,
    disable_after: timedelta,
) -> str:
    """Log the attempt and move the delivery on; returns its status (delivered, pending, failed)."""
    connection.execute(
        text(
            "INSERT INTO notification_attempts (delivery_id, attempted_at, status_code, latency_ms, error, "
            "response_excerpt) VALUES (:d, :now, :code, :ms, :error, :excerpt)"
        ),
        {
            "d": job.delivery_id,
            "now": now,
            "code": outcome.status_code,
            "ms": outcome.latency_ms,
            "error": outcome.error,
            "excerpt": outcome.response_excerpt,
        },
    )
    attempts = job.attempts + 1
    if outcome.delivered:
        status, error, next_at = "delivered", None, now
    else:
        status = "failed" if attempts > len(BACKOFF) else "pending"
        error = (outcome.error or f"HTTP {outcome.status_code}")[:500]
        next_at = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
    connection.execute(
        text(
            "UPDATE notification_deliveries SET attempts = :attempts, status = :status, "
            "last_status_code = :code, last_error = :error, next_attempt_at = :next, "
            "delivered_at = CASE WHEN :status = 'delivered' THEN CAST(:now AS timestamptz) END WHERE id = :id"
        ),
        {
            "attempts": attempts,
            "status": status,
            "code": outcome.status_code,
            "error": error,
            "next": next_at,
            "now": now,
            "id": job.delivery_id,
        },
    )
    if outcome.delivered:
        connection.execute(
            text("UPDATE notification_endpoints SET failing_since = NULL WHERE id = :id"),
            {"id": job.endpoint_id},
        )
    else:
        _note_failure(connection, job, now, disable_after)
    return status


def _note_failure(connection: Connection, job: DeliveryJob, now: datetime, disable_after: timedelta) -> None:
    """An endpoint failing since longer than `disable_after` is disabled, and the platform told."""
    row = connection.execute(
        text(
            "UPDATE notification_endpoints SET failing_since = COALESCE(failing_since, :now) WHERE id = :id "
            "RETURNING failing_since, organization_id, url, status"
        ),
        {"now": now, "id": job.endpoint_id},
    ).one()
    failing_since, organization_id, url, status = row
    if status == "enabled" and now - failing_since >= disable_after:
        connection.execute(
            text(
                "UPDATE notification_endpoints SET status = 'disabled', disabled_reason = :reason, "
                "updated_at = :now WHERE id = :id"
            ),
            {
                "reason": f"every delivery failed since {failing_since.isoformat()}",
                "now": now,
                "id": job.endpoint_id,
            },
        )
        data: dict[str, Any] = {
            "endpoint_id": job.endpoint_id,
            "url": url,
            "failing_since": failing_since,
            "endpoint_organization_id": organization_id,
        }
        emit(
            connection,
            ENDPOINT_DISABLED,
            organization_id,
            data,
            f"{job.endpoint_id}:{failing_since.isoformat()}",
        )


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    event_type: str
    organization_id: str | None
    endpoint_id: int
    url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime


def list_deliveries(
    connection: Connection, *, failed_only: bool = False, limit: int = 100
) -> list[DeliveryRow]:
    rows = connection.execute(
        text(
            "SELECT d.id, n.event_type, n.organization_id, e.id, e.url, d.status, d.attempts, "
            "d.last_status_code, d.last_error, d.next_attempt_at, d.created_at "
            "FROM notification_deliveries d "
            "JOIN notification_events n ON n.id = d.event_id "
            "JOIN notification_endpoints e ON e.id = d.endpoint_id "
            "WHERE NOT :failed OR d.status = 'failed' ORDER BY d.id DESC LIMIT :limit"
        ),
        {"failed": failed_only, "limit": limit},
    )
    return [DeliveryRow(*row) for row in rows]


def attempts_of(connection: Connection, delivery_id: int) -> list[tuple[int | None, int, str | None]]:
    """Every attempt of a delivery: (status code, latency ms, error), oldest first."""
    rows = connection.execute(
        text(
            "SELECT status_code, latency_ms, error FROM notification_attempts "
            "WHERE delivery_id = :d ORDER BY id"
        ),
        {"d": delivery_id},
    )
    return [(code, ms, error) for code, ms, error in rows]


def replay(connection: Connection, delivery_id: int, now: datetime) -> None:
    """Send a delivery again (a failed one, or a delivered one the receiver lost)."""
    found = connection.execute(
        text(
            "UPDATE notification_deliveries SET status = 'pending', next_attempt_at = :now, attempts = 0 "
            "WHERE id = :id RETURNING id"
        ),
        {"now": now, "id": delivery_id},
    ).first()
    if found is None:
        raise UnknownDelivery(delivery_id)
