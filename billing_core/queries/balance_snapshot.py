"""The balance view of queries/balance.py in two round trips (the API's hot path): the current
period (ledger/periods.py, the one definition of it), then the balance, the period's totals and the
grants expiring within 7 days in one statement, one snapshot. Same rules: allocated = grants and
bonuses created in the period; used = usage net of refunds created in the period. A test keeps the
two equal."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import UnknownOrganization
from billing_core.ledger.periods import current_period
from billing_core.queries.balance import BalanceView, ExpiringGrant, remaining_percent

_SNAPSHOT = text(
    "SELECT b.balance, b.overdraft, b.updated_at, "
    "(SELECT COALESCE(SUM(amount) FILTER (WHERE type IN ('subscription_credit', 'bonus')), 0) "
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


def balance_snapshot(connection: Connection, organization_id: str, now: datetime) -> BalanceView:
    start, end = current_period(connection, organization_id, now)
    row = connection.execute(
        _SNAPSHOT,
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
