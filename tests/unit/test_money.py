"""Credits as exact integers of micro-credits, parsed from and shown as decimal text."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.errors import InvalidInput
from billing_core.money import credits_to_micros, micros_to_text


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("1.625", 1_625_000),
        ("0.000001", 1),
        ("-0.00235", -2_350),
        (" 12 ", 12_000_000),
        ("1e3", 1_000_000_000),
        (5, 5_000_000),
        (0, 0),
        (Decimal("0.1"), 100_000),
        (Decimal("-7.000001"), -7_000_001),
    ],
)
def test_credits_given_as_text_or_exact_numbers_become_exact_micro_credits(value, micros):
    assert credits_to_micros(value) == micros


@pytest.mark.parametrize("value", [1.5, 0.1, 2.0, True, False])
def test_floats_and_booleans_are_refused_because_they_are_not_exact(value):
    with pytest.raises(InvalidInput) as raised:
        credits_to_micros(value)
    assert raised.value.field == "credits"


@pytest.mark.parametrize("value", ["0.0000001", "1.1234567", "-0.0000005", Decimal("3.14159265")])
def test_more_than_six_decimal_places_are_refused(value):
    with pytest.raises(InvalidInput) as raised:
        credits_to_micros(value)
    assert "6 decimal places" in str(raised.value)


@pytest.mark.parametrize("value", ["", "abc", "1,5", "NaN", "Infinity", "-inf"])
def test_text_that_is_not_a_finite_number_is_refused(value):
    with pytest.raises(InvalidInput):
        credits_to_micros(value)


def test_a_refused_value_names_the_field_the_caller_gave():
    with pytest.raises(InvalidInput) as raised:
        credits_to_micros(0.5, field="amount")
    assert raised.value.field == "amount"


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0.000000"),
        (1, "0.000001"),
        (1_625_000, "1.625000"),
        (-2_350, "-0.002350"),
        (-1, "-0.000001"),
        (-1_000_000, "-1.000000"),
        (123_456_789_012, "123456.789012"),
    ],
)
def test_micro_credits_are_shown_as_credits_with_exactly_six_decimals_and_a_sign_when_negative(micros, text):
    assert micros_to_text(micros) == text


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_amount_of_micro_credits_survives_a_round_trip_through_text(micros):
    text = micros_to_text(micros)
    assert re.fullmatch(r"-?\d+\.\d{6}", text)
    assert Decimal(text) * 1_000_000 == micros
    assert credits_to_micros(text) == micros


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False))
def test_any_credit_amount_with_at_most_six_decimals_survives_a_round_trip_through_micro_credits(credits):
    micros = credits_to_micros(credits)
    assert micros == credits.scaleb(6)
    assert Decimal(micros_to_text(micros)) == credits
