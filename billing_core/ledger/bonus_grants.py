"""Bonus credits granted by an admin through the API, once per (organization, idempotency key).

A replay of the same request returns the transaction written the first time, found by its
idempotency key, so that the caller gets the same answer again; the same key with a different
request (amount, expiry or description) is an IdempotencyConflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from billing_core import audit
from billing_core.audit import Actor
from billing_core.errors import IdempotencyConflict, InvalidInput
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.ledger.journal import payload_hash
from billing_core.money import micros_to_text
from billing_core.queries.transactions import TransactionRow


@dataclass(frozen=True)
class BonusGrant:
    transaction: TransactionRow
    grant_id: int | None  # None when the whole amount went to repaying an overdraft
    expires_at: datetime | None
    replayed: bool


_FIND = text(
    "SELECT t.id, t.created_at, t.occurred_at, t.type, t.amount, t.balance_after, t.description, "
    "t.user_id, t.agent_id, t.event_id, t.reference_type, t.reference_id, t.model, t.input_tokens, "
    "t.cached_input_tokens, t.output_tokens, t.tools, t.model_price_id, t.allocations, t.audit_event_id, "
    "t.payload_hash, "
    "g.id, g.expires_at FROM credit_transactions t LEFT JOIN credit_grants g ON g.id = "
    "(SELECT (a ->> 'grant_id')::bigint FROM jsonb_array_elements(t.allocations) a "
    "WHERE a ->> 'grant_id' IS NOT NULL LIMIT 1) WHERE t.idempotency_key = :key"
)


def ledger_key(organization_id: str, idempotency_key: str) -> str:
    """The key under which grants.py stores the grant (it prefixes `grant:`)."""
    return f"grant:{_request_key(organization_id, idempotency_key)}"


def _request_key(organization_id: str, idempotency_key: str) -> str:
    return f"api:{organization_id}:{idempotency_key}"


def _find(connection: Connection, request: GrantRequest, idempotency_key: str) -> BonusGrant | None:
    row = connection.execute(_FIND, {"key": ledger_key(request.organization_id, idempotency_key)}).first()
    if row is None:
        return None
    transaction = TransactionRow(*row[:20])
    digest, grant_id, expires_at = row[20:]
    if digest != payload_hash(request.payload()) or transaction.description != request.description:
        raise IdempotencyConflict(idempotency_key)
    return BonusGrant(transaction, grant_id, expires_at, replayed=True)


def grant_bonus(
    connection: Connection,
    organization_id: str,
    idempotency_key: str,
    amount: int,
    now: datetime,
    *,
    description: str = "",
    expires_at: datetime | None = None,
    actor: Actor | None = None,
) -> BonusGrant:
    """With an actor, a grant this call makes is audited (`credits.grant`) and its ledger row
    names the event; a replay changed nothing, so the first request's event stands."""
    if not idempotency_key or len(idempotency_key) > 200:
        raise InvalidInput("Idempotency-Key", "1-200 characters are required")
    request = GrantRequest(
        organization_id=organization_id,
        amount=amount,
        type="bonus",
        idempotency_key=_request_key(organization_id, idempotency_key),
        effective_at=now,
        expires_at=expires_at.astimezone(UTC) if expires_at is not None else None,
        description=description,
        reference_type="admin_api",
        reference_id=idempotency_key,
        audit_event_id=audit.reserve_id(connection) if actor is not None else None,
    )
    earlier = _find(connection, request, idempotency_key)
    if earlier is not None:
        return earlier
    result = grant_credits(connection, request, now)
    written = _find(connection, request, idempotency_key)
    if written is None:  # grant_credits always writes or finds the row; this is a broken invariant
        raise RuntimeError(f"grant under key {idempotency_key!r} not found after writing it")
    if not result.created:
        return written
    if actor is not None and request.audit_event_id is not None:
        details = {"credits": micros_to_text(amount), "idempotency_key": idempotency_key}
        audit.record(
            connection,
            actor,
            "credits.grant",
            organization_id=organization_id,
            target=("transaction", written.transaction.id),
            details={**details, "expires_at": request.expires_at, "description": description},
            now=now,
            event_id=request.audit_event_id,
        )
    return BonusGrant(written.transaction, written.grant_id, written.expires_at, False)
