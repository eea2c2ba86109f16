"""How the billing console writes numbers and dates: credits from micro-credits exactly (never a
float), prices from cents per currency, percentages rounded half up in integers, days in UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.console.formatting import credits, day, last_day, moment, money, plural, share, signed_credits
from billing_core.money import MICROS_PER_CREDIT

EXACT = Context(prec=200)
GROUPED = re.compile(r"^-?(0|[1-9]\d{0,2}(,\d{3})*)\.\d{2,6}$")


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0.00"),
        (1, "0.000001"),
        (10, "0.00001"),
        (4_200, "0.0042"),
        (-4_200, "-0.0042"),
        (-1, "-0.000001"),
        (999_999, "0.999999"),
        (1_000_000, "1.00"),
        (1_500_000, "1.50"),
        (-1_500_000, "-1.50"),
        (1_010_000, "1.01"),
        (999_000_000, "999.00"),
        (1_000_000_000, "1,000.00"),
        (1_234_500_000, "1,234.50"),
        (-1_234_500_000, "-1,234.50"),
        (1_234_567_891_234, "1,234,567.891234"),
        (-1_000_000_000_000, "-1,000,000.00"),
        (2**63 - 1, "9,223,372,036,854.775807"),
    ],
)
def test_credits_are_written_from_micro_credits_exactly(micros, text):
    assert credits(micros) == text


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_credits_round_trip_exactly_through_decimal_for_any_integer(micros):
    text = credits(micros)

    assert GROUPED.match(text), text
    assert EXACT.multiply(Decimal(text.replace(",", "")), MICROS_PER_CREDIT) == micros
    assert text.startswith("-") == (micros < 0)
    decimals = text.split(".")[1]
    assert len(decimals) == 2 or not decimals.endswith("0")  # nothing padded beyond two decimals


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_signed_credits_add_a_plus_to_credits_only_for_positive_amounts(micros):
    text = signed_credits(micros)

    assert text == ("+" if micros > 0 else "") + credits(micros)
    assert EXACT.multiply(Decimal(text.replace(",", "")), MICROS_PER_CREDIT) == micros


@pytest.mark.parametrize(
    ("micros", "text"), [(1_000_000_000, "+1,000.00"), (-4_200, "-0.0042"), (0, "0.00"), (1, "+0.000001")]
)
def test_signed_credits_examples(micros, text):
    assert signed_credits(micros) == text


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (19_200, "USD", "$192.00"),
        (95_040, "USD", "$950.40"),
        (2_000, "usd", "$20.00"),
        (5, "EUR", "€0.05"),
        (123_456_789, "GBP", "£1,234,567.89"),
        (1_000, "GTQ", "Q10.00"),
        (100_000, "XYZ", "XYZ 1,000.00"),
        (150, "mxn", "MXN 1.50"),
        (0, "USD", "$0.00"),
        (-150, "USD", "-$1.50"),
        (-150, "mxn", "-MXN 1.50"),
        (-99, "EUR", "-€0.99"),
    ],
)
def test_money_is_written_from_cents_with_the_currencys_symbol_or_code(cents, currency, text):
    assert money(cents, currency) == text


@given(
    st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "EUR", "GBP", "GTQ", "JPY"])
)
def test_money_round_trips_exactly_to_cents(cents, currency):
    text = money(cents, currency)

    digits = re.sub(r"[^0-9.\-]", "", text)
    assert EXACT.multiply(Decimal(digits), 100) == cents
    assert re.search(r"\d\.\d{2}$", text)
    assert text.startswith("-") == (cents < 0)


@pytest.mark.parametrize(
    ("part", "whole", "text"),
    [
        (1, 3, "33.3%"),
        (2, 3, "66.7%"),
        (0, 5, "0.0%"),
        (5, 5, "100.0%"),
        (1, 16, "6.3%"),  # 6.25: half up
        (1, 2_000, "0.1%"),  # 0.05: half up
        (1, 2_001, "0.0%"),  # 0.04998
        (4_800, 24_000, "20.0%"),  # the yearly discount
        (97, 100, "97.0%"),
        (1, 0, "0.0%"),
        (1, -3, "0.0%"),
        (7, 0, "0.0%"),
    ],
)
def test_share_is_a_percentage_with_one_decimal_rounded_half_up(part, whole, text):
    assert share(part, whole) == text


@given(st.integers(min_value=1, max_value=10**18).flatmap(lambda w: st.tuples(st.integers(0, w), st.just(w))))
def test_share_matches_exact_decimal_rounding_for_any_part_of_a_whole(pair):
    part, whole = pair
    exact = EXACT.divide(Decimal(part) * 100, Decimal(whole))
    expected = exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    assert share(part, whole) == f"{expected}%"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (date(2026, 11, 27), "Nov 27, 2026"),
        (date(2026, 1, 5), "Jan 5, 2026"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "Dec 31, 2026"),
    ],
)
def test_day_is_month_day_year_without_padding(value, text):
    assert day(value) == text


def test_moment_is_the_day_and_the_utc_time_to_the_minute():
    assert moment(datetime(2026, 11, 27, 14, 5, 59, tzinfo=UTC)) == "Nov 27, 2026 14:05 UTC"
    assert moment(datetime(2026, 2, 3, 0, 0, tzinfo=UTC)) == "Feb 3, 2026 00:00 UTC"


def test_moment_and_day_write_an_instant_given_in_another_time_zone_in_utc():
    # The database hands timestamps back in the session's time zone, which need not be UTC.
    guatemala = timezone(timedelta(hours=-6))
    evening = datetime(2026, 11, 27, 20, 5, tzinfo=guatemala)  # Nov 28 02:05 UTC

    assert moment(evening) == "Nov 28, 2026 02:05 UTC"
    assert day(evening) == "Nov 28, 2026"
    assert last_day(datetime(2026, 12, 16, 20, 53, tzinfo=guatemala)) == date(2026, 12, 17)  # 02:53 UTC


@pytest.mark.parametrize(
    ("end", "last"),
    [
        (datetime(2026, 12, 1, tzinfo=UTC), date(2026, 11, 30)),
        (datetime(2027, 1, 1, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2026, 12, 17, 2, 53, tzinfo=UTC), date(2026, 12, 17)),
        (datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=UTC), date(2026, 12, 1)),
    ],
)
def test_last_day_of_a_period_excludes_its_end_instant(end, last):
    assert last_day(end) == last


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (1_000, "1,000 messages"), (-1, "-1 messages")],
)
def test_plural(count, text):
    assert plural(count, "message") == text
