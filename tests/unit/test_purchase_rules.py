"""The pure rules of purchases: what a refund takes back, a crossing, the monthly cap, in integers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.purchases.rules import (
    Clawback,
    clawback,
    credits_label,
    crossed,
    month_of,
    within_monthly_cap,
)

C = 1_000_000  # one credit in micro-credits


def test_a_full_refund_takes_back_what_is_left_and_records_what_was_spent():
    assert clawback(100 * C, 0, 1_000, 1_000, 70 * C) == Clawback(70 * C, 30 * C)
    assert clawback(100 * C, 0, 1_000, 1_000, 100 * C) == Clawback(100 * C, 0)


def test_partial_refunds_owe_their_share_rounded_down_and_a_later_figure_only_the_difference():
    half = clawback(100 * C, 0, 500, 1_000, 90 * C)
    assert half == Clawback(50 * C, 0)
    rest = clawback(100 * C, 50 * C, 1_000, 1_000, 40 * C)
    assert rest == Clawback(40 * C, 10 * C)
    assert clawback(10, 0, 1, 3, 10) == Clawback(3, 0)  # 10 x 1/3 = 3.33: 3, never more than the share


def test_an_older_or_repeated_figure_takes_nothing_more():
    assert clawback(100 * C, 100 * C, 1_000, 1_000, 0) == Clawback(0, 0)
    assert clawback(100 * C, 60 * C, 500, 1_000, 40 * C) == Clawback(0, 0)


@given(
    credits=st.integers(1, 10**12),
    paid=st.integers(1, 10**8),
    steps=st.lists(st.integers(0, 10**8), min_size=1, max_size=5),
    spent=st.integers(0, 10**12),
)
def test_refunds_never_take_more_than_the_purchase_nor_more_than_is_left(credits, paid, steps, spent):
    remaining, accounted, taken = max(credits - spent, 0), 0, 0
    for refunded in sorted(min(s, paid) for s in steps):
        plan = clawback(credits, accounted, refunded, paid, remaining)
        assert 0 <= plan.take <= remaining and plan.unrecovered >= 0
        remaining -= plan.take
        accounted += plan.take + plan.unrecovered
        taken += plan.take
    assert accounted <= credits and taken <= credits - min(spent, credits)


def test_a_crossing_is_from_at_or_above_the_threshold_to_below_it():
    assert crossed(20, 19, 20) and crossed(100, 0, 20)
    assert not crossed(19, 5, 20)  # already below: no new crossing
    assert not crossed(100, 20, 20)  # at the threshold is not below it
    assert not crossed(100, 0, None)  # auto-recharge off


def test_the_monthly_cap_and_its_calendar_month():
    assert within_monthly_cap(1_000, 1_000, 2_000) and not within_monthly_cap(1_001, 1_000, 2_000)
    start, end = month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("micros", "label"), [(100 * C, "100"), (1_000 * C, "1,000"), (12_500_000, "12.5"), (1, "0.000001")]
)
def test_a_packs_credits_read_as_a_customer_reads_them(micros, label):
    assert credits_label(micros) == label
