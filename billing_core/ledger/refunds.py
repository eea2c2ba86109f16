"""Refunding a usage debit: exactly what was debited, back to the grants that paid it, once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from billing_core.errors import NothingToRefund, RetryableConflict
from billing_core.ledger.accounts import lock_account, save_accounts
from billing_core.ledger.drawdown import Allocation, plan_refund
from billing_core.ledger.journal import LedgerRow, insert_rows, payload_hash
from billing_core.ledger.periods import current_period
from billing_core.notifications import balance_alerts
from billing_core.spend.accounting import charge_budgets


@dataclass(frozen=True)
class RefundResult:
    transaction_id: int | None
    amount: int
    created: bool
    balance: int


def refund_key(event_id: str) -> str:
    return f"refund:{event_id}"


def refund_usage(
    connection: Connection,
    event_id: str,
    reason: str,
    now: datetime,
    *,
    source: str = "failure",
    audit_event_id: int | None = None,
) -> RefundResult:
    """Return a usage debit's credits. One refund per event, whatever the retries."""
    debit = connection.execute(
        text(
            "SELECT organization_id, amount, allocations, occurred_at, model, user_id, agent_id, created_at, "
            "cost_breakdown ->> 'api_key' FROM credit_transactions WHERE type = 'usage' AND event_id "
            "= :event_id"
        ),
        {"event_id": event_id},
    ).first()
    if debit is None:
        raise NothingToRefund(event_id)
    organization_id, debited, allocations_raw, occurred_at, model, user_id, agent_id, charged_at, api_key = (
        debit
    )
    account = lock_account(connection, organization_id)
    done = connection.execute(
        text("SELECT id, amount FROM credit_transactions WHERE type = 'refund' AND event_id = :e"),
        {"e": event_id},
    ).first()
    if done is not None:
        return RefundResult(done[0], done[1], False, account.balance)

    amount = -debited
    drawn = [Allocation(a["grant_id"], a["amount"]) for a in _as_list(allocations_raw)]
    grant_ids = [a.grant_id for a in drawn if a.grant_id is not None]
    live = {
        gid
        for (gid,) in connection.execute(
            text(
                "SELECT id FROM credit_grants WHERE id = ANY(:ids) AND expired_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > :now) ORDER BY id FOR UPDATE"
            ),
            {"ids": grant_ids, "now": now},
        )
    }
    plan = plan_refund(drawn, live, account.overdraft)
    returned = list(plan.to_grants)
    for part in plan.to_grants:
        connection.execute(
            text("UPDATE credit_grants SET remaining = remaining + :amount WHERE id = :id"),
            {"amount": part.amount, "id": part.grant_id},
        )
    if plan.to_new_grant:
        returned.append(
            Allocation(
                _new_refund_grant(connection, organization_id, plan.to_new_grant, now), plan.to_new_grant
            )
        )
    if plan.overdraft_reduction:
        returned.append(Allocation(None, plan.overdraft_reduction))
    account.overdraft -= plan.overdraft_reduction
    account.balance += amount
    key = refund_key(event_id)
    row = LedgerRow(
        organization_id=organization_id,
        type="refund",
        amount=amount,
        balance_after=account.balance,
        idempotency_key=key,
        payload_hash=payload_hash({"event_id": event_id}),
        reference_type=source,
        reference_id=event_id,
        occurred_at=now,
        description=f"Refund of interaction {event_id}: {reason}",
        allocations=returned,
        user_id=user_id,
        agent_id=agent_id,
        event_id=event_id,
        model=model,
        audit_event_id=audit_event_id,
    )
    inserted = insert_rows(connection, [row])
    if key not in inserted:
        raise RetryableConflict(key)
    balance_alerts.after_credit(
        connection, account, source="refund", amount=amount, reference=event_id, now=now
    )
    # The budgets it counted against get it back, in the windows of the debit's own time.
    charge_budgets(connection, [(organization_id, agent_id, user_id, api_key, amount)], charged_at, sign=-1)
    save_accounts(connection, [account], now)
    connection.execute(
        text(
            "UPDATE usage_daily SET refunded = refunded + :amount "
            "WHERE organization_id = :org AND day = :day AND model = :model"
        ),
        {"amount": amount, "org": organization_id, "day": occurred_at.astimezone(UTC).date(), "model": model},
    )
    return RefundResult(inserted[key], amount, True, account.balance)


def _as_list(raw: object) -> list[dict[str, int]]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return list(value) if isinstance(value, list) else []


def _new_refund_grant(connection: Connection, organization_id: str, amount: int, now: datetime) -> int:
    """Credits whose grant expired meanwhile go to a new grant ending with the current period."""
    _, period_end = current_period(connection, organization_id, now)
    grant_id: int = connection.execute(
        text(
            "INSERT INTO credit_grants (organization_id, source, amount, remaining, effective_at, "
            "expires_at) VALUES (:org, 'refund', :amount, :amount, :now, :expires) RETURNING id"
        ),
        {"org": organization_id, "amount": amount, "now": now, "expires": period_end},
    ).scalar_one()
    return grant_id
