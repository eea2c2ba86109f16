"""The organization's current billing period: its subscription's, or else the calendar month (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def current_period(connection: Connection, organization_id: str, now: datetime) -> tuple[datetime, datetime]:
    row = connection.execute(
        text(
            "SELECT current_period_start, current_period_end FROM subscriptions "
            "WHERE organization_id = :org AND status IN ('active', 'past_due') "
            "AND current_period_start <= :now AND current_period_end > :now "
            "ORDER BY current_period_end DESC LIMIT 1"
        ),
        {"org": organization_id, "now": now},
    ).first()
    if row is None:
        return calendar_month(now)
    return row[0], row[1]
