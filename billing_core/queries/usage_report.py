"""Daily usage of an organization with its trend and a forecast, read from the `usage_daily` rollup.

Credits are net of refunds (`credits - refunded` of the rollup); messages and tokens count every
message charged. "The last 7 days" are the 7 UTC days ending today, today included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownOrganization
from billing_core.ledger.periods import current_period
from billing_core.money import ceil_micros

MAX_DAYS = 366
MAX_FORECAST_DAYS = 36_500  # beyond a century the run-out date is reported as none


@dataclass
class UsageTotals:
    credits: int = 0  # net of refunds, micro-credits
    refunded: int = 0
    messages: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0

    def add(self, other: UsageTotals) -> None:
        self.credits += other.credits
        self.refunded += other.refunded
        self.messages += other.messages
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.output_tokens += other.output_tokens
        self.tool_calls += other.tool_calls


@dataclass
class DayUsage:
    day: date
    totals: UsageTotals = field(default_factory=UsageTotals)
    models: dict[str, UsageTotals] = field(default_factory=dict)


@dataclass(frozen=True)
class Trend:
    last_7_days: int
    previous_7_days: int
    change_percent: Decimal | None  # None when the previous week had no usage


@dataclass(frozen=True)
class Forecast:
    balance: int
    burn_rate_per_day: int  # average of the last 7 days, rounded up to a micro-credit
    projected_run_out: date | None  # None when nothing is used, or it lasts over a century
    period_end: datetime
    needed_until_period_end: int
    allowance_lasts_until_period_end: bool


@dataclass(frozen=True)
class UsageReport:
    organization_id: str
    start: date
    end: date
    days: list[DayUsage]
    totals: UsageTotals
    trend: Trend
    forecast: Forecast


def trend(last_7_days: int, previous_7_days: int) -> Trend:
    if previous_7_days <= 0:
        return Trend(last_7_days, previous_7_days, None)
    change = Decimal(last_7_days - previous_7_days) * 100 / Decimal(previous_7_days)
    return Trend(last_7_days, previous_7_days, change.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def forecast(balance: int, last_7_days: int, now: datetime, period_end: datetime) -> Forecast:
    """Burn rate = last 7 days / 7; run-out = today + balance / burn rate (whole days);
    the allowance lasts if the balance covers the burn rate until the period ends."""
    today = now.astimezone(UTC).date()
    burn = Decimal(max(last_7_days, 0)) / 7
    seconds_left = max((period_end - now).total_seconds(), 0.0)
    needed = ceil_micros(burn * Decimal(str(seconds_left)) / 86400)
    if burn == 0:
        run_out = today if balance <= 0 else None
    elif balance <= 0:
        run_out = today
    else:
        days = int(Decimal(balance) / burn)
        run_out = today + timedelta(days=days) if days <= MAX_FORECAST_DAYS else None
    return Forecast(
        balance=balance,
        burn_rate_per_day=ceil_micros(burn),
        projected_run_out=run_out,
        period_end=period_end,
        needed_until_period_end=needed,
        allowance_lasts_until_period_end=balance >= needed and balance >= 0,
    )


_DAYS = text(
    "SELECT day, model, credits - refunded, refunded, messages, input_tokens, cached_input_tokens, "
    "output_tokens, tool_calls FROM usage_daily "
    "WHERE organization_id = :org AND day >= :start AND day <= :end ORDER BY day, model"
)
_WEEKS = text(
    "SELECT COALESCE(SUM(credits - refunded) FILTER (WHERE day > :split), 0), "
    "COALESCE(SUM(credits - refunded) FILTER (WHERE day <= :split), 0) FROM usage_daily "
    "WHERE organization_id = :org AND day > :first AND day <= :today"
)


def usage_report(
    connection: Connection, organization_id: str, start: date, end: date, now: datetime
) -> UsageReport:
    if end < start:
        raise InvalidInput("to", "must not be before `from`")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput("from", f"a report covers at most {MAX_DAYS} days")
    balance = connection.execute(
        text("SELECT balance FROM balances WHERE organization_id = :org"), {"org": organization_id}
    ).scalar()
    if balance is None:
        raise UnknownOrganization(organization_id)
    days = {
        start + timedelta(days=i): DayUsage(start + timedelta(days=i)) for i in range((end - start).days + 1)
    }
    totals = UsageTotals()
    for day, model, *values in connection.execute(
        _DAYS, {"org": organization_id, "start": start, "end": end}
    ):
        row = UsageTotals(*(int(v) for v in values))
        days[day].models[model] = row
        days[day].totals.add(row)
        totals.add(row)
    today = now.astimezone(UTC).date()
    last, previous = connection.execute(
        _WEEKS,
        {
            "org": organization_id,
            "today": today,
            "split": today - timedelta(days=7),
            "first": today - timedelta(days=14),
        },
    ).one()
    _, period_end = current_period(connection, organization_id, now)
    return UsageReport(
        organization_id=organization_id,
        start=start,
        end=end,
        days=list(days.values()),
        totals=totals,
        trend=trend(int(last), int(previous)),
        forecast=forecast(int(balance), int(last), now, period_end),
    )


def group_by_model(days: list[DayUsage]) -> dict[str, UsageTotals]:
    """Totals per model over the given days."""
    out: dict[str, UsageTotals] = defaultdict(UsageTotals)
    for day in days:
        for model, totals in day.models.items():
            out[model].add(totals)
    return dict(out)
