"""Rejected events: anything that could not be applied is kept with its reason and raw payload."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from billing_core.db.bulk import json_rows
from billing_core.ledger.journal import payload_hash
from billing_core.notifications.events import USAGE_REJECTED
from billing_core.notifications.outbox import emit

# Every reason a message or event can be parked for; `billing events rejected --reason R` filters on them.
MALFORMED = "malformed"
UNKNOWN_MODEL = "unknown_model"
UNKNOWN_TOOL = "unknown_tool"
UNKNOWN_ORGANIZATION = "unknown_organization"
CONFLICT = "conflict"
POISON = "poison_message"
RETRIES_EXHAUSTED = "retries_exhausted"
DEAD_LETTERED = "dead_lettered"
UNMATCHED_REFUND = "unmatched_refund"  # a failure report still without its debit after the wait
ORGANIZATION_MISMATCH = "organization_mismatch"  # a failure report naming another organization's debit


@dataclass(frozen=True)
class Rejection:
    """One event that was not applied, and why."""

    kind: str
    reason: str
    payload: Mapping[str, Any]
    detail: str = ""
    event_id: str | None = None
    organization_id: str | None = None

    @classmethod
    def of_message(
        cls,
        kind: str,
        raw: object,
        reason: str,
        detail: str,
        *,
        id_field: str,
        event_id: str | None = None,
        organization_id: str | None = None,
    ) -> Rejection:
        """A message as it arrived (any JSON value) that could not be applied. Its event id (in
        `id_field`) and organization are taken from it, when they are strings, unless given."""
        payload: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {"raw": raw}
        found_id, found_org = payload.get(id_field), payload.get("organization_id")
        return cls(
            kind=kind,
            reason=reason,
            payload=payload,
            detail=detail,
            event_id=event_id or (found_id if isinstance(found_id, str) else None),
            organization_id=organization_id or (found_org if isinstance(found_org, str) else None),
        )

    @property
    def fingerprint(self) -> str:
        # The same payload rejected for the same reason is one row, however often it is redelivered.
        return payload_hash({"kind": self.kind, "reason": self.reason, "payload": self.payload})


def storable(value: Any) -> Any:
    """A JSON value PostgreSQL can keep: it refuses the NUL character in text and jsonb, so each NUL
    of a rejected payload is kept as U+FFFD (a payload with NUL is refused anyway, and stays so)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def record(connection: Connection, rejections: Sequence[Rejection]) -> int:
    """Store rejections (duplicates of an existing pending one are ignored); returns rows added."""
    if not rejections:
        return 0
    # One row per fingerprint: a statement may not upsert the same row twice.
    unique = list({r.fingerprint: r for r in rejections}.values())
    rows = [
        {
            "kind": r.kind,
            "reason": r.reason,
            "detail": storable(r.detail),
            "event_id": storable(r.event_id),
            "organization_id": storable(r.organization_id),
            "payload": storable(r.payload),
            "fingerprint": r.fingerprint,
        }
        for r in unique
    ]
    result = connection.execute(
        text(
            "INSERT INTO rejected_events "
            "(kind, reason, detail, event_id, organization_id, payload, fingerprint) "
            "SELECT kind, reason, detail, event_id, organization_id, payload, fingerprint "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(kind text, reason text, detail text, "
            "event_id text, organization_id text, payload jsonb, fingerprint text) "
            "ON CONFLICT (fingerprint) DO UPDATE SET status = 'pending', replayed_at = NULL "
            "WHERE rejected_events.status = 'replayed' RETURNING id, fingerprint"
        ),
        {"rows": json_rows(rows)},
    )
    added = result.all()
    by_fingerprint = {r.fingerprint: r for r in unique}
    for row_id, fingerprint in added:
        rejection = by_fingerprint[fingerprint]
        if rejection.kind == "usage":  # platform-wide endpoints hear of what could not be charged
            data = {
                "rejected_event_id": row_id,
                "reason": rejection.reason,
                "detail": rejection.detail[:500],
                "event_id": rejection.event_id,
            }
            emit(connection, USAGE_REJECTED, rejection.organization_id, data, f"{row_id}:{fingerprint}")
    return len(added)


@dataclass(frozen=True)
class RejectedEvent:
    id: int
    kind: str
    reason: str
    detail: str
    event_id: str | None
    organization_id: str | None
    payload: dict[str, Any]
    status: str
    created_at: Any


def list_rejected(
    connection: Connection, *, reason: str | None = None, status: str | None = "pending", limit: int = 1000
) -> list[RejectedEvent]:
    result = connection.execute(
        text(
            "SELECT id, kind, reason, detail, event_id, organization_id, payload, status, created_at "
            "FROM rejected_events WHERE (CAST(:reason AS text) IS NULL OR reason = :reason) "
            "AND (CAST(:status AS text) IS NULL OR status = :status) ORDER BY id LIMIT :limit"
        ),
        {"reason": reason, "status": status, "limit": limit},
    )
    return [RejectedEvent(*row) for row in result]


def mark_replayed(connection: Connection, ids: Sequence[int]) -> None:
    connection.execute(
        text("UPDATE rejected_events SET status = 'replayed', replayed_at = now() WHERE id = ANY(:ids)"),
        {"ids": list(ids)},
    )
