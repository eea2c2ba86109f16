"""Credits are integers of micro-credits (1 credit = 1,000,000 µcr); never floats."""

from __future__ import annotations

from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation

from billing_core.errors import InvalidInput

MICROS_PER_CREDIT = 1_000_000
# Enough digits that no amount, product or sum is rounded before the single round-up or the checks
# below (the default context keeps only 28 significant digits).
EXACT = Context(prec=100)


def credits_to_micros(value: str | int | Decimal, *, field: str = "credits") -> int:
    """Parse a credit amount given as text or an exact number; refuse floats and sub-micro digits."""
    if isinstance(value, float) or isinstance(value, bool):
        raise InvalidInput(field, "credits must be given as an exact decimal, not a float")
    try:
        amount = EXACT.create_decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(field, f"not a number: {value!r}") from None
    if not amount.is_finite():
        raise InvalidInput(field, f"not a finite number: {value!r}")
    micros = EXACT.multiply(amount, MICROS_PER_CREDIT)
    if micros != micros.to_integral_value():
        raise InvalidInput(field, "credits have at most 6 decimal places")
    return int(micros)


def micros_to_text(micros: int) -> str:
    """Show micro-credits as an exact decimal string of credits, e.g. -2350 -> "-0.002350"."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_CREDIT)
    return f"{sign}{whole}.{frac:06d}"


def ceil_micros(exact: Decimal) -> int:
    """Round an exact micro-credit amount up to a whole micro-credit."""
    return int(exact.to_integral_value(rounding=ROUND_CEILING))
