"""Granting credits: a new grant bucket and its ledger row, repaying any overdraft first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import IdempotencyConflict, InvalidInput, RetryableConflict
from billing_core.ledger.accounts import lock_account, save_accounts
from billing_core.ledger.drawdown import Allocation, repay_overdraft
from billing_core.ledger.journal import LedgerRow, existing_hashes, insert_rows, payload_hash
from billing_core.ledger.periods import allocated_in_period
from billing_core.notifications import balance_alerts

GRANT_TYPES = ("subscription_credit", "bonus", "purchase")


@dataclass(frozen=True)
class GrantRequest:
    """Add `amount` micro-credits to an organization, once per idempotency key."""

    organization_id: str
    amount: int
    type: str
    idempotency_key: str
    effective_at: datetime
    expires_at: datetime | None = None
    priority: int = 0
    description: str = ""
    reference_type: str = "admin"
    reference_id: str = ""
    subscription_id: int | None = None
    period_start: datetime | None = None
    grant_kind: str = "period"  # a subscription's monthly allowance, or `upgrade:<plan>`
    audit_event_id: int | None = None  # not part of the payload: a replay may be audited apart

    def payload(self) -> dict[str, object]:
        kind = {"grant_kind": self.grant_kind} if self.grant_kind != "period" else {}
        return {
            **kind,
            "organization_id": self.organization_id,
            "amount": self.amount,
            "type": self.type,
            "expires_at": self.expires_at,
            "priority": self.priority,
            "subscription_id": self.subscription_id,
            "period_start": self.period_start,
        }


@dataclass(frozen=True)
class GrantResult:
    transaction_id: int | None
    grant_id: int | None
    created: bool
    balance: int


def grant_credits(connection: Connection, request: GrantRequest, now: datetime) -> GrantResult:
    """Write the grant and its transaction; a replay of the same key is a no-op."""
    if request.type not in GRANT_TYPES:
        raise InvalidInput("type", f"must be one of {', '.join(GRANT_TYPES)}")
    if request.amount <= 0:
        raise InvalidInput("credits", "a grant must be positive")
    if not request.idempotency_key:
        raise InvalidInput("idempotency_key", "is required")
    if request.expires_at is not None and request.expires_at <= request.effective_at:
        raise InvalidInput("expires_at", "must be after the grant takes effect")
    account = lock_account(connection, request.organization_id)
    key = f"grant:{request.idempotency_key}"
    digest = payload_hash(request.payload())
    previous = existing_hashes(connection, [key]).get(key)
    if previous is not None:
        if previous != digest:
            raise IdempotencyConflict(request.idempotency_key)
        return GrantResult(None, None, False, account.balance)

    remaining, account.overdraft = repay_overdraft(request.amount, account.overdraft)
    grant_id: int = connection.execute(
        text(
            "INSERT INTO credit_grants (organization_id, source, amount, remaining, effective_at, "
            "expires_at, priority, subscription_id, period_start, grant_kind) VALUES (:org, :source, "
            ":amount, :remaining, :effective_at, :expires_at, :priority, :subscription_id, "
            ":period_start, :grant_kind) "
            "RETURNING id"
        ),
        {
            "org": request.organization_id,
            "source": request.type,
            "amount": request.amount,
            "remaining": remaining,
            "effective_at": request.effective_at,
            "expires_at": request.expires_at,
            "priority": request.priority,
            "subscription_id": request.subscription_id,
            "period_start": request.period_start,
            "grant_kind": request.grant_kind,
        },
    ).scalar_one()
    account.balance += request.amount
    allocations = [Allocation(grant_id, remaining)] if remaining else []
    if request.amount - remaining:
        allocations.append(Allocation(None, request.amount - remaining))
    row = LedgerRow(
        organization_id=request.organization_id,
        type=request.type,
        amount=request.amount,
        balance_after=account.balance,
        idempotency_key=key,
        payload_hash=digest,
        reference_type=request.reference_type,
        reference_id=request.reference_id or request.idempotency_key,
        occurred_at=now,
        description=request.description,
        allocations=allocations,
        audit_event_id=request.audit_event_id,
    )
    inserted = insert_rows(connection, [row])
    if key not in inserted:  # the same key was written for another organization meanwhile
        raise RetryableConflict(key)
    balance_alerts.after_credit(
        connection,
        account,
        source=request.type,
        amount=request.amount,
        reference=request.idempotency_key,
        now=now,
        allocation=allocated_in_period(connection, request.organization_id, now),
    )
    save_accounts(connection, [account], now)
    return GrantResult(inserted[key], grant_id, True, account.balance)
