"""The Usage tab's daily chart as geometry: the nice top of the scale, one bar per day so far with a
height proportional to its credits inside the plot, and the forecast pace only over days to come."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.console.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, daily_chart, nice_ceiling
from billing_core.money import MICROS_PER_CREDIT

CREDIT = MICROS_PER_CREDIT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BASELINE = HEIGHT - BOTTOM
NOV_1 = date(2026, 11, 1)
NOV_30 = date(2026, 11, 30)


def usage(*credits: int, first: date = NOV_1) -> list[tuple[date, int]]:
    return [(first + timedelta(days=i), c) for i, c in enumerate(credits)]


def is_nice(micros: int) -> bool:
    """1, 2 or 5 × 10^k micro-credits."""
    digits = str(micros)
    return digits[0] in "125" and set(digits[1:]) <= {"0"}


@pytest.mark.parametrize(
    ("micros", "top"),
    [
        (0, CREDIT),
        (-5, CREDIT),
        (1, 1),
        (2, 2),
        (3, 5),
        (6, 10),
        (11, 20),
        (21, 50),
        (999_999, CREDIT),
        (CREDIT, CREDIT),
        (CREDIT + 1, 2 * CREDIT),
        (2_500_000, 5 * CREDIT),
        (5 * CREDIT + 1, 10 * CREDIT),
        (30 * CREDIT, 50 * CREDIT),
        (1_234_567 * CREDIT, 2_000_000 * CREDIT),
    ],
)
def test_nice_ceiling_is_the_smallest_1_2_5_step_at_or_above(micros, top):
    assert nice_ceiling(micros) == top


@given(st.integers(min_value=1, max_value=10**18))
def test_nice_ceiling_is_nice_covers_the_value_and_no_smaller_nice_number_does(micros):
    top = nice_ceiling(micros)

    assert is_nice(top)
    assert top >= micros
    smaller = [n for n in (top // 2, top * 2 // 5, top // 5) if n >= 1 and n < top and is_nice(n)]
    assert all(n < micros for n in smaller), (top, smaller)
    assert 2 * top <= 5 * micros  # never more than 2.5 times the value


def test_a_bar_per_day_so_far_with_heights_proportional_to_credits():
    chart = daily_chart(usage(10 * CREDIT, 5 * CREDIT, 0, CREDIT // 4), NOV_1, NOV_30, 0)

    assert chart.period_days == 30
    assert [b.day for b in chart.bars] == [NOV_1 + timedelta(days=i) for i in range(4)]
    assert [b.credits for b in chart.bars] == [10 * CREDIT, 5 * CREDIT, 0, CREDIT // 4]
    assert [b.height for b in chart.bars] == [PLOT_HEIGHT, PLOT_HEIGHT / 2, 0, 5.3]  # 212 × 0.025 = 5.3
    assert all(b.y + b.height == pytest.approx(BASELINE) for b in chart.bars)
    assert chart.baseline == BASELINE
    assert chart.pace is None  # no burn rate
    assert chart.bars[0].label == "Nov 1, 2026: 10.00 credits"
    assert chart.bars[3].label == "Nov 4, 2026: 0.25 credits"


def test_a_day_without_usage_or_with_only_refunds_has_no_height():
    chart = daily_chart(usage(0, -3 * CREDIT, 2 * CREDIT), NOV_1, NOV_30, 0)

    assert [b.height for b in chart.bars[:2]] == [0, 0]
    assert [b.y for b in chart.bars[:2]] == [BASELINE, BASELINE]
    assert chart.bars[1].credits == -3 * CREDIT  # the label still tells the truth
    assert chart.bars[2].height == PLOT_HEIGHT


def test_without_any_usage_the_scale_is_one_credit_and_every_bar_is_flat():
    chart = daily_chart(usage(0, 0, 0), NOV_1, NOV_30, 0)

    assert all(b.height == 0 for b in chart.bars)
    assert [t.label for t in chart.y_ticks] == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert chart.pace is None


def test_the_y_axis_has_five_ticks_from_zero_at_the_baseline_to_the_nice_top():
    chart = daily_chart(usage(30 * CREDIT, 12 * CREDIT), NOV_1, NOV_30, 0)

    assert [t.label for t in chart.y_ticks] == ["0.00", "12.50", "25.00", "37.50", "50.00"]
    assert [t.position for t in chart.y_ticks] == [BASELINE, 171.0, 118.0, 65.0, TOP]


def test_the_pace_line_covers_the_days_still_to_come_at_the_burn_rate():
    chart = daily_chart(usage(4 * CREDIT, 6 * CREDIT, 8 * CREDIT), NOV_1, NOV_30, 5 * CREDIT)

    pace = chart.pace
    assert pace is not None
    assert pace.credits_per_day == 5 * CREDIT
    slot = (WIDTH - LEFT - RIGHT) / 30
    assert pace.x1 == round(LEFT + slot * 3, 1)  # from the end of today's slot
    assert pace.x2 == WIDTH - RIGHT
    assert pace.y == BASELINE - PLOT_HEIGHT / 2  # 5 of a scale topped at 10
    assert chart.bars[-1].x + chart.bars[-1].width <= pace.x1


def test_the_burn_rate_can_set_the_top_of_the_scale():
    chart = daily_chart(usage(CREDIT), NOV_1, NOV_30, 40 * CREDIT)

    assert chart.y_ticks[-1].label == "50.00"
    assert chart.pace is not None and TOP <= chart.pace.y < BASELINE
    assert chart.bars[0].height == round(PLOT_HEIGHT / 50, 1)


def test_no_pace_line_on_the_last_day_of_the_period_or_without_a_burn_rate():
    whole_month = usage(*([CREDIT] * 30))

    assert daily_chart(whole_month, NOV_1, NOV_30, 5 * CREDIT).pace is None  # no day left
    assert daily_chart(usage(CREDIT), NOV_1, NOV_30, 0).pace is None  # nothing used lately
    assert daily_chart(usage(CREDIT), NOV_1, NOV_30, 1).pace is not None  # one micro-credit a day


def test_day_labels_every_week_and_the_last_day_unless_too_close():
    february = daily_chart(usage(0, first=date(2026, 2, 1)), date(2026, 2, 1), date(2026, 2, 28), 0)
    november = daily_chart(usage(0), NOV_1, NOV_30, 0)
    single = daily_chart(usage(0), NOV_1, NOV_1, 0)

    assert [t.label for t in february.x_ticks] == ["Feb 1", "Feb 8", "Feb 15", "Feb 22", "Feb 28"]
    assert [t.label for t in november.x_ticks] == ["Nov 1", "Nov 8", "Nov 15", "Nov 22", "Nov 29"]
    assert [t.label for t in single.x_ticks] == ["Nov 1"]
    positions = [t.position for t in february.x_ticks]
    assert positions == sorted(positions) and LEFT < positions[0] and positions[-1] < WIDTH - RIGHT


def test_a_yearly_period_still_fits_one_slot_per_day():
    first = date(2026, 1, 1)
    chart = daily_chart(
        usage(*range(0, 366 * CREDIT, CREDIT)[:200], first=first), first, date(2026, 12, 31), 0
    )

    assert chart.period_days == 365 and len(chart.bars) == 200
    assert chart.bars[-1].x + chart.bars[-1].width <= WIDTH - RIGHT


@given(
    st.lists(st.integers(min_value=-(10**9), max_value=10**13), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=10**13),
)
def test_bars_stay_inside_the_plot_are_proportional_and_never_overlap(credits, extra_days, burn_rate):
    last = NOV_1 + timedelta(days=len(credits) - 1 + extra_days)
    chart = daily_chart(usage(*credits), NOV_1, last, burn_rate)
    top = nice_ceiling(max([*credits, burn_rate, 0]))

    assert chart.period_days == len(credits) + extra_days
    assert len(chart.bars) == len(credits)
    for bar in chart.bars:
        assert LEFT <= bar.x and bar.x + bar.width <= WIDTH - RIGHT + 0.1
        assert TOP - 0.1 <= bar.y <= BASELINE
        assert 0 <= bar.height <= PLOT_HEIGHT
        assert abs(bar.height - PLOT_HEIGHT * max(bar.credits, 0) / top) <= 0.11
    for left, right in zip(chart.bars, chart.bars[1:], strict=False):
        assert left.x + left.width <= right.x
        if left.credits <= right.credits:
            assert left.height <= right.height
    if burn_rate > 0 and extra_days > 0:
        assert chart.pace is not None
        assert TOP - 0.1 <= chart.pace.y <= BASELINE
        assert chart.bars[-1].x < chart.pace.x1 < chart.pace.x2 == WIDTH - RIGHT
    else:
        assert chart.pace is None
