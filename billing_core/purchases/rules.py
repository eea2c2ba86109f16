"""Pure rules of purchases: what a refund takes back, when a balance crosses the recharge threshold,
what the monthly cap allows. Integers only (micro-credits and cents)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clawback:
    """What one refund event does to a purchase's credits."""

    take: int  # micro-credits taken back from the purchase's grant now
    unrecovered: int  # micro-credits owed by this refund that were already spent (or expired)


def clawback(credits: int, accounted: int, refunded_cents: int, paid_cents: int, remaining: int) -> Clawback:
    """A refund of `refunded_cents` in all (the provider's cumulative figure) out of `paid_cents`
    owes the same share of the purchase's `credits`, rounded down (a partial refund never takes more
    than its share); `accounted` is what earlier refund events already took back or recorded as
    unrecovered. Only what is left of the purchase's grant (`remaining`) can be taken back: the
    balance never goes below what was already spent."""
    if paid_cents <= 0:
        raise ValueError("a refund needs the amount paid")
    share = credits * min(max(refunded_cents, 0), paid_cents) // paid_cents
    owed = max(share - accounted, 0)
    take = min(owed, max(remaining, 0))
    return Clawback(take, owed - take)


def crossed(balance_before: int, balance_after: int, threshold: int | None) -> bool:
    """A debit group took the balance from at or above the threshold to below it: one crossing."""
    return threshold is not None and balance_before >= threshold > balance_after


def within_monthly_cap(charged_this_month_cents: int, price_cents: int, cap_cents: int) -> bool:
    """Another auto-recharge of `price_cents` stays within the month's cap."""
    return charged_this_month_cents + price_cents <= cap_cents


def month_of(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) the monthly cap counts."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def credits_label(micros: int) -> str:
    """1,000 or 12.5: a pack's credits as a customer reads them (exact digits, no trailing zeros)."""
    whole, fraction = divmod(micros, 1_000_000)
    return f"{whole:,}" + (f".{fraction:06d}".rstrip("0") if fraction else "")
