"""Refunds for failed interactions, in any order with their debits.

A failure report is kept in `pending_refunds` (one per interaction, whatever the duplicates). If the
interaction's debit is already in the ledger it is refunded at once; otherwise the debit refunds it
when it arrives (see usage_ingest.record_usage). Both paths lock the organization's balance row
first, so a report and its debit committing at the same moment cannot miss each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core import audit
from billing_core.audit import Actor
from billing_core.db.bulk import json_values
from billing_core.errors import IdempotencyConflict, InvalidInput, NothingToRefund, UnknownOrganization
from billing_core.ledger.accounts import lock_account
from billing_core.ledger.refunds import RefundResult, refund_usage
from billing_core.ledger.usage import usage_key
from billing_core.money import micros_to_text
from billing_core.usage import rejections
from billing_core.usage.event import parse_time


@dataclass(frozen=True)
class FailureReport:
    """An interaction failed or was cancelled: return what `original_event_id` was charged."""

    event_id: str
    original_event_id: str
    organization_id: str
    reason: str
    occurred_at: datetime


def parse_failure(raw: object) -> FailureReport:
    if not isinstance(raw, Mapping):
        raise InvalidInput("event", "must be a JSON object")
    values: dict[str, str] = {}
    for name in ("event_id", "original_event_id", "organization_id", "reason"):
        value = raw.get(name)
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > (1000 if name == "reason" else 200)
        ):
            raise InvalidInput(name, "a non-empty string is required")
        if "\x00" in value:
            raise InvalidInput(name, "must not contain the NUL character")
        values[name] = value
    return FailureReport(occurred_at=parse_time(raw.get("occurred_at")), **values)


@dataclass
class FailureResult:
    refunded: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    rejected: list[rejections.Rejection] = field(default_factory=list)


def handle_failures(connection: Connection, raw_reports: Sequence[object], now: datetime) -> FailureResult:
    """Keep every valid report (once per interaction) and refund those whose debit exists."""
    result = FailureResult()
    reports: list[FailureReport] = []
    for raw in raw_reports:
        try:
            reports.append(parse_failure(raw))
        except InvalidInput as error:
            result.rejected.append(_rejection(raw, rejections.MALFORMED, str(error)))
    for report in sorted(reports, key=lambda r: r.organization_id):  # the global lock order
        try:
            lock_account(connection, report.organization_id)
        except UnknownOrganization as error:
            result.rejected.append(
                _rejection(_as_payload(report), rejections.UNKNOWN_ORGANIZATION, str(error))
            )
            continue
        connection.execute(
            text(
                "INSERT INTO pending_refunds (original_event_id, failure_event_id, organization_id, reason, "
                "received_at) VALUES (:original, :failure, :org, :reason, :now) "
                "ON CONFLICT (original_event_id) DO NOTHING"
            ),
            {
                "now": now,
                "original": report.original_event_id,
                "failure": report.event_id,
                "org": report.organization_id,
                "reason": report.reason,
            },
        )
        outcome = settle(connection, report.original_event_id, now)
        if outcome == "refunded":
            result.refunded.append(report.original_event_id)
        elif outcome == "pending":
            result.waiting.append(report.original_event_id)
    rejections.record(connection, result.rejected)
    return result


def settle(connection: Connection, original_event_id: str, now: datetime) -> str:
    """Refund a pending report if its debit exists; returns the report's status afterwards."""
    pending = connection.execute(
        text(
            "SELECT organization_id, reason, status, failure_event_id, source FROM pending_refunds "
            "WHERE original_event_id = :e FOR UPDATE"
        ),
        {"e": original_event_id},
    ).first()
    if pending is None or pending.status != "pending":
        return "absent" if pending is None else str(pending.status)
    debit_org = _debit_organization(connection, original_event_id)
    if debit_org is None:
        return "pending"
    if debit_org != pending.organization_id:
        _resolve(connection, original_event_id, "rejected", now)
        rejections.record(
            connection,
            [
                rejections.Rejection(
                    kind="refund",
                    reason=rejections.ORGANIZATION_MISMATCH,
                    payload={
                        "original_event_id": original_event_id,
                        "organization_id": pending.organization_id,
                    },
                    detail=f"the debit belongs to organization {debit_org!r}; nothing refunded",
                    event_id=original_event_id,
                    organization_id=pending.organization_id,
                )
            ],
        )
        return "rejected"
    refund_usage(connection, original_event_id, pending.reason, now, source=pending.source)
    _resolve(connection, original_event_id, "refunded", now)
    return "refunded"


def settle_debited(connection: Connection, event_ids: Iterable[str], now: datetime) -> list[str]:
    """Called in the transaction that wrote these debits: refund those whose failure came first."""
    ids = list(event_ids)
    if not ids:
        return []
    waiting = [
        event_id
        for (event_id,) in connection.execute(
            text(
                "SELECT p.original_event_id FROM jsonb_array_elements_text(CAST(:ids AS jsonb)) AS k(id) "
                "JOIN pending_refunds p ON p.original_event_id = k.id WHERE p.status = 'pending'"
            ),
            {"ids": json_values(ids)},
        )
    ]
    return [event_id for event_id in waiting if settle(connection, event_id, now) == "refunded"]


def refund_interaction(
    connection: Connection,
    organization_id: str,
    event_id: str,
    reason: str,
    now: datetime,
    *,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
) -> RefundResult:
    """With an actor, a refund this call makes is audited (`refund.create`) and its ledger row
    names the event. An admin refund of one interaction's debit (at most one refund per interaction). With an
    idempotency key, reusing the key for another event or reason is an IdempotencyConflict."""
    lock_account(connection, organization_id)
    request_id = f"admin:{organization_id}:{idempotency_key}" if idempotency_key else f"admin:{event_id}"
    earlier = connection.execute(
        text("SELECT original_event_id, reason FROM pending_refunds WHERE failure_event_id = :r"),
        {"r": request_id},
    ).first()
    if idempotency_key and earlier is not None and tuple(earlier) != (event_id, reason):
        raise IdempotencyConflict(idempotency_key)
    debit_org = _debit_organization(connection, event_id)
    if debit_org != organization_id:
        raise NothingToRefund(event_id)
    connection.execute(
        text(
            "INSERT INTO pending_refunds (original_event_id, failure_event_id, organization_id, reason, "
            "source, received_at) VALUES (:e, :r, :org, :reason, 'admin', :now) "
            "ON CONFLICT (original_event_id) DO NOTHING"
        ),
        {"e": event_id, "r": request_id, "org": organization_id, "reason": reason, "now": now},
    )
    audit_id = audit.reserve_id(connection) if actor is not None else None
    result = refund_usage(connection, event_id, reason, now, source="admin", audit_event_id=audit_id)
    if actor is not None and result.created:
        audit.record(
            connection,
            actor,
            "refund.create",
            organization_id=organization_id,
            target=("transaction", result.transaction_id),
            details={"credits": micros_to_text(result.amount), "event_id": event_id, "reason": reason},
            now=now,
            event_id=audit_id,
        )
    _resolve(connection, event_id, "refunded", now)
    return result


def flag_unmatched(connection: Connection, now: datetime, wait: timedelta) -> int:
    """Make reports still waiting for their debit after `wait` visible as rejected events."""
    rows = connection.execute(
        text(
            "UPDATE pending_refunds SET flagged_at = :now WHERE status = 'pending' "
            "AND flagged_at IS NULL AND received_at <= :cutoff "
            "RETURNING original_event_id, failure_event_id, organization_id, reason"
        ),
        {"now": now, "cutoff": now - wait},
    ).all()
    found = [
        rejections.Rejection(
            kind="refund",
            reason=rejections.UNMATCHED_REFUND,
            payload={"original_event_id": r[0], "event_id": r[1], "organization_id": r[2], "reason": r[3]},
            detail=f"no debit for {r[0]!r} after {wait}; it is refunded if it still arrives",
            event_id=r[0],
            organization_id=r[2],
        )
        for r in rows
    ]
    return rejections.record(connection, found)


def _debit_organization(connection: Connection, event_id: str) -> str | None:
    """The organization an event's usage debit belongs to, or None if it was not debited."""
    found: str | None = connection.execute(
        text("SELECT organization_id FROM credit_transactions WHERE idempotency_key = :k"),
        {"k": usage_key(event_id)},
    ).scalar()
    return found


def _resolve(connection: Connection, original_event_id: str, status: str, now: datetime) -> None:
    connection.execute(
        text("UPDATE pending_refunds SET status = :s, resolved_at = :now WHERE original_event_id = :e"),
        {"s": status, "now": now, "e": original_event_id},
    )
    connection.execute(
        text(
            "UPDATE rejected_events SET status = 'resolved' WHERE reason = :r AND event_id = :e "
            "AND status = 'pending'"
        ),
        {"r": rejections.UNMATCHED_REFUND, "e": original_event_id},
    )


def _as_payload(report: FailureReport) -> dict[str, str]:
    return {
        "event_id": report.event_id,
        "original_event_id": report.original_event_id,
        "organization_id": report.organization_id,
        "reason": report.reason,
        "occurred_at": report.occurred_at.isoformat(),
    }


def _rejection(raw: object, reason: str, detail: str) -> rejections.Rejection:
    return rejections.Rejection.of_message("refund", raw, reason, detail, id_field="original_event_id")
