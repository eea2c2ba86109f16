"""Month arithmetic and proration: plain functions over values, exact in integers."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

INTERVAL_MONTHS = {"month": 1, "year": 12}
YEARLY_DISCOUNT_PERCENT = 20


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole months; a day past the target month's end clamps to that end
    (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year; + 2 months = Mar 31)."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return anchor.replace(year=year, month=month + 1, day=min(anchor.day, last_day))


def months_between(anchor: datetime, moment: datetime) -> int:
    """How many whole monthly anniversaries of `anchor` have passed at `moment`
    (0 in the first month, -1 before `anchor`)."""
    if moment < anchor:
        return -1
    guess = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    while guess > 0 and add_months(anchor, guess) > moment:
        guess -= 1
    while add_months(anchor, guess + 1) <= moment:
        guess += 1
    return guess


def yearly_price_cents(monthly_price_cents: int) -> int:
    """12 months at 20% off, exact in cents; a fraction of a cent (never from whole cents × 12 × 0.8
    unless the monthly price is not a multiple of 5) is rounded half up."""
    numerator = monthly_price_cents * 12 * (100 - YEARLY_DISCOUNT_PERCENT)
    return (numerator + 50) // 100


def interval_price_cents(monthly_price_cents: int, interval: str) -> int:
    if interval == "month":
        return monthly_price_cents
    if interval == "year":
        return yearly_price_cents(monthly_price_cents)
    raise ValueError(f"unknown billing interval {interval!r}")


def prorate_cents(difference_cents: int, start: datetime, end: datetime, now: datetime) -> int:
    """The share of `difference_cents` for the rest of [start, end) from `now`, rounded half up,
    computed in whole microseconds so no float is involved."""
    if difference_cents <= 0 or now >= end:
        return 0
    total = _micros(end - start)
    left = _micros(end - max(now, start))
    return (difference_cents * left * 2 + total) // (2 * total)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
