"""How the console writes numbers and dates: credits from micro-credits with exact digits (never a
float), prices from cents, days in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from billing_core.money import MICROS_PER_CREDIT

# Currencies the plans are priced in; anything else is written with its code.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "GTQ": "Q"}


def credits(micros: int) -> str:
    """1,234.5 credits from 1_234_500_000 micro-credits: thousands separated, at least two
    decimals, up to six, nothing rounded."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS_PER_CREDIT)
    digits = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole:,}.{digits}"


def signed_credits(micros: int) -> str:
    """Credits with an explicit sign, as a ledger amount: +1,000.00 or -0.0042."""
    return ("+" if micros > 0 else "") + credits(micros)


def money(cents: int, currency: str) -> str:
    """$192.00 from 19_200 cents (USD); 'XYZ 1,000.00' for a currency without a symbol here."""
    whole, fraction = divmod(abs(cents), 100)
    amount = f"{whole:,}.{fraction:02d}"
    symbol = _SYMBOLS.get(currency.upper())
    sign = "-" if cents < 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{currency.upper()} {amount}"


def utc(value: datetime) -> datetime:
    """The instant in UTC, whatever time zone the database session handed it back in."""
    return value.astimezone(UTC) if value.tzinfo is not None else value


def day(value: date | datetime) -> str:
    """Nov 27, 2026 (the UTC day of an instant)."""
    if isinstance(value, datetime):
        value = utc(value)
    return f"{value:%b} {value.day}, {value.year}"


def last_day(period_end: datetime) -> date:
    """The last day of a period whose end instant is exclusive (a period ending Dec 1 00:00 ends
    on Nov 30)."""
    return utc(period_end - timedelta(microseconds=1)).date()


def plural(count: int, noun: str) -> str:
    """1 message, 2 messages, 1,000 messages."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def moment(value: datetime) -> str:
    """Nov 27, 2026 14:05 UTC."""
    value = utc(value)
    return f"{day(value)} {value:%H:%M} UTC"


def share(part: int, whole: int) -> str:
    """A percentage with one decimal, computed in integers: 33.3% for 1 of 3."""
    if whole <= 0:
        return "0.0%"
    tenths = (abs(part) * 1000 + whole // 2) // whole
    return f"{'-' if part < 0 and tenths else ''}{tenths // 10}.{tenths % 10}%"
