"""Granting a subscription's monthly allowance (or an upgrade's difference), once per period."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text

from billing_core.ledger.accounts import lock_account
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.money import micros_to_text
from billing_core.plans.catalog import get_plan_config
from billing_core.subscriptions.state import GrantPeriod
from billing_core.subscriptions.store import StoredSubscription

PERIOD = "period"


def grant_key(subscription_id: int, period_start: datetime, kind: str = PERIOD) -> str:
    start = period_start.astimezone(UTC).isoformat()
    return f"subscription:{subscription_id}:{start}" + ("" if kind == PERIOD else f":{kind}")


def already_granted(connection: Connection, subscription_id: int, period_start: datetime, kind: str) -> bool:
    return (
        connection.execute(
            text(
                "SELECT 1 FROM credit_grants WHERE subscription_id = :id AND period_start = :start "
                "AND grant_kind = :kind"
            ),
            {"id": subscription_id, "start": period_start, "kind": kind},
        ).first()
        is not None
    )


def granted_for_period(connection: Connection, subscription_id: int, period_start: datetime) -> int:
    total: int = connection.execute(
        text(
            "SELECT COALESCE(sum(amount), 0) FROM credit_grants "
            "WHERE subscription_id = :id AND period_start = :start"
        ),
        {"id": subscription_id, "start": period_start},
    ).scalar_one()
    return int(total)


def grant_for_period(
    connection: Connection,
    sub: StoredSubscription,
    period: GrantPeriod,
    now: datetime,
    *,
    kind: str = PERIOD,
    amount: int | None = None,
) -> bool:
    """Grant `amount` (default: the plan's monthly credits) for `period` unless it was granted.
    The account is locked first, so a concurrent grant of the same period waits and then sees it;
    the unique index on (subscription, period start, kind) is the last word. Credits expire at the
    period's end unless the plan rolls them over. Returns whether a grant was written."""
    lock_account(connection, sub.organization_id)
    if already_granted(connection, sub.id, period.start, kind):
        return False
    plan = get_plan_config(connection, sub.state.plan_code)
    credits = plan.credits_per_month if amount is None else amount
    expires_at = None if plan.rollover else period.end
    if credits <= 0 or (expires_at is not None and now >= expires_at):
        return False
    what = "monthly credits" if kind == PERIOD else f"upgrade to {plan.name}"
    request = GrantRequest(
        organization_id=sub.organization_id,
        amount=credits,
        type="subscription_credit",
        idempotency_key=grant_key(sub.id, period.start, kind),
        effective_at=now,
        expires_at=expires_at,
        description=f"{plan.name}: {what} ({micros_to_text(credits)}) from {period.start.date()}",
        reference_type="subscription",
        reference_id=str(sub.id),
        subscription_id=sub.id,
        period_start=period.start,
        grant_kind=kind,
    )
    return grant_credits(connection, request, now).created
