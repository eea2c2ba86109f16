"""The balance view: balance, allocated and used in the current period, remaining %, overdraft."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, text

from billing_core.errors import UnknownOrganization
from billing_core.ledger.periods import current_period


@dataclass(frozen=True)
class ExpiringGrant:
    grant_id: int
    source: str
    remaining: int
    expires_at: datetime


@dataclass(frozen=True)
class BalanceView:
    organization_id: str
    balance: int
    overdraft: int
    allocated: int
    used: int
    remaining_percent: Decimal
    period_start: datetime
    period_end: datetime
    expiring_soon: list[ExpiringGrant]
    as_of: datetime


# The balance, the period's totals and the grants expiring soon, in one statement: one snapshot.
_VIEW = text(
    "SELECT b.balance, b.overdraft, b.updated_at, "
    "(SELECT COALESCE(SUM(amount) FILTER (WHERE type IN ('subscription_credit', 'bonus', 'purchase')), 0) "
    " FROM credit_transactions WHERE organization_id = :org AND created_at >= :start "
    " AND created_at < :end), "
    "(SELECT COALESCE(-SUM(amount) FILTER (WHERE type IN ('usage', 'refund')), 0) "
    " FROM credit_transactions WHERE organization_id = :org AND created_at >= :start "
    " AND created_at < :end), "
    "(SELECT COALESCE(jsonb_agg(jsonb_build_array(id, source, remaining, expires_at) "
    " ORDER BY expires_at, id), '[]') FROM credit_grants WHERE organization_id = :org "
    " AND remaining > 0 AND expired_at IS NULL AND expires_at > :now AND expires_at <= :soon) "
    "FROM balances b WHERE b.organization_id = :org"
)


def balance_view(connection: Connection, organization_id: str, now: datetime) -> BalanceView:
    """Allocated = grants, bonuses and purchases (net of what purchase refunds took back) created
    in the current period (ledger/periods.py); used = usage net of refunds created in it; grants
    expiring within 7 days. Two round trips (the period, then the rest): the API's hot path."""
    start, end = current_period(connection, organization_id, now)
    row = connection.execute(
        _VIEW,
        {"org": organization_id, "now": now, "soon": now + timedelta(days=7), "start": start, "end": end},
    ).first()
    if row is None:
        raise UnknownOrganization(organization_id)
    balance, overdraft, as_of, allocated, used, expiring = row
    return BalanceView(
        organization_id=organization_id,
        balance=balance,
        overdraft=overdraft,
        allocated=int(allocated),
        used=int(used),
        remaining_percent=remaining_percent(balance, int(allocated)),
        period_start=start,
        period_end=end,
        expiring_soon=[
            ExpiringGrant(grant_id, source, remaining, datetime.fromisoformat(expires_at))
            for grant_id, source, remaining, expires_at in expiring
        ],
        as_of=as_of,
    )


def remaining_percent(balance: int, allocated: int) -> Decimal:
    """Balance as a share of what was allocated this period, 0-100, two decimals."""
    if allocated <= 0:
        return Decimal("100.00") if balance > 0 else Decimal("0.00")
    share = Decimal(max(balance, 0)) * 100 / Decimal(allocated)
    return min(share, Decimal(100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
