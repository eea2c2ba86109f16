"""The balance view of queries/balance.py in one statement: one round trip and one consistent
snapshot (the API's hot path). Same rules: the current period is the live subscription's, else
the calendar month (UTC); allocated = grants and bonuses created in the period; used = usage net
of refunds created in the period; grants expiring within 7 days. A test keeps the two equal."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import UnknownOrganization
from billing_core.ledger.periods import calendar_month
from billing_core.queries.balance import BalanceView, ExpiringGrant, remaining_percent

_SNAPSHOT = text(
    "WITH sub AS (SELECT current_period_start AS s, current_period_end AS e FROM subscriptions "
    "WHERE organization_id = :org AND status IN ('active', 'past_due') "
    "AND current_period_start <= :now AND current_period_end > :now "
    "ORDER BY current_period_end DESC LIMIT 1), "
    "period AS (SELECT COALESCE((SELECT s FROM sub), :month_start) AS s, "
    "COALESCE((SELECT e FROM sub), :month_end) AS e) "
    "SELECT b.balance, b.overdraft, b.updated_at, period.s, period.e, "
    "(SELECT COALESCE(SUM(amount) FILTER (WHERE type IN ('subscription_credit', 'bonus')), 0) "
    " FROM credit_transactions WHERE organization_id = :org AND created_at >= period.s "
    " AND created_at < period.e), "
    "(SELECT COALESCE(-SUM(amount) FILTER (WHERE type IN ('usage', 'refund')), 0) "
    " FROM credit_transactions WHERE organization_id = :org AND created_at >= period.s "
    " AND created_at < period.e), "
    "(SELECT COALESCE(jsonb_agg(jsonb_build_array(id, source, remaining, expires_at) "
    " ORDER BY expires_at, id), '[]') FROM credit_grants WHERE organization_id = :org "
    " AND remaining > 0 AND expired_at IS NULL AND expires_at > :now AND expires_at <= :soon) "
    "FROM balances b, period WHERE b.organization_id = :org"
)


def balance_snapshot(connection: Connection, organization_id: str, now: datetime) -> BalanceView:
    month_start, month_end = calendar_month(now)
    row = connection.execute(
        _SNAPSHOT,
        {
            "org": organization_id,
            "now": now,
            "soon": now + timedelta(days=7),
            "month_start": month_start,
            "month_end": month_end,
        },
    ).first()
    if row is None:
        raise UnknownOrganization(organization_id)
    balance, overdraft, as_of, start, end, allocated, used, expiring = row
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
