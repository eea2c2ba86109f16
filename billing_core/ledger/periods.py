"""The organization's current period (what "allocated vs used this period" counts): the monthly
allowance window of its live subscription, or else the calendar month (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text

from billing_core.subscriptions.calendar import add_months, months_between
from billing_core.subscriptions.state import IN_FORCE_SQL


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def current_period(connection: Connection, organization_id: str, now: datetime) -> tuple[datetime, datetime]:
    """The monthly allowance window containing `now`: the live subscription's grant period (its
    billing period for a monthly plan; the month since the last monthly anniversary, within the
    paid year, for a yearly one), else the calendar month."""
    row = connection.execute(
        text(
            "SELECT COALESCE(billing_anchor, current_period_start), current_period_end FROM subscriptions "  # noqa: S608
            f"WHERE organization_id = :org AND status IN {IN_FORCE_SQL} "
            "AND current_period_start <= :now AND current_period_end > :now "
            "ORDER BY current_period_end DESC LIMIT 1"
        ),
        {"org": organization_id, "now": now},
    ).first()
    if row is None:
        return calendar_month(now)
    anchor, period_end = row[0].astimezone(UTC), row[1].astimezone(UTC)
    months = max(months_between(anchor, now.astimezone(UTC)), 0)
    return add_months(anchor, months), min(add_months(anchor, months + 1), period_end)


def allocated_in_period(connection: Connection, organization_id: str, now: datetime) -> int:
    """Credits granted (subscription, bonus and purchases, net of what refunds of purchases took
    back) in the current period: what the low-balance thresholds are percentages of, and the
    balance view's "allocated"."""
    start, end = current_period(connection, organization_id, now)
    total = connection.execute(
        text(
            "SELECT COALESCE(SUM(amount), 0) FROM credit_transactions WHERE organization_id = :org "
            "AND type IN ('subscription_credit', 'bonus', 'purchase') "
            "AND created_at >= :start AND created_at < :end"
        ),
        {"org": organization_id, "start": start, "end": end},
    ).scalar_one()
    return int(total)  # SUM of bigint is numeric
