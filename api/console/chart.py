"""The daily-usage chart of the Usage tab, as geometry for an inline SVG: one bar per day of the
current period up to today, the forecast pace as a dashed line over the days still to come.

Drawn by the server (no charting library, nothing fetched): the page works offline and without
JavaScript. Credits stay integers; only pixel positions are floats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from api.console import formatting
from billing_core.money import MICROS_PER_CREDIT

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 36


@dataclass(frozen=True)
class Bar:
    day: date
    credits: int  # micro-credits, net of refunds
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return f"{formatting.day(self.day)}: {formatting.credits(self.credits)} credits"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Pace:
    """The burn rate drawn from today to the end of the period."""

    x1: float
    x2: float
    y: float
    credits_per_day: int


@dataclass(frozen=True)
class DailyChart:
    width: int
    height: int
    bars: list[Bar]
    period_days: int
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    pace: Pace | None
    baseline: float

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT


def _short(day: date) -> str:
    return f"{day:%b} {day.day}"


def nice_ceiling(micros: int) -> int:
    """The smallest 1, 2 or 5 × 10^k credits (k may be negative) at or above `micros`."""
    if micros <= 0:
        return MICROS_PER_CREDIT
    step = 1  # one micro-credit
    while True:
        for factor in (1, 2, 5):
            if step * factor >= micros:
                return step * factor
        step *= 10


def daily_chart(usage: list[tuple[date, int]], first_day: date, last_day: date, burn_rate: int) -> DailyChart:
    """`usage`: (day, credits) for each day from `first_day` through today, in order; the period
    runs through `last_day`."""
    period_days = max((last_day - first_day).days + 1, len(usage), 1)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = float(HEIGHT - BOTTOM)
    slot = plot_width / period_days
    top = nice_ceiling(max([c for _, c in usage] + [burn_rate, 0]))

    def y_of(micros: int) -> float:
        return round(baseline - plot_height * max(micros, 0) / top, 1)

    bars = []
    for index, (day, micros) in enumerate(usage):
        y = y_of(micros)
        x = round(LEFT + slot * index + slot * 0.15, 1)
        bars.append(Bar(day, micros, x, y, round(slot * 0.7, 1), round(baseline - y, 1)))
    y_ticks = [Tick(y_of(top * i // 4), formatting.credits(top * i // 4)) for i in range(5)]
    # A label every week, and the period's last day unless the last weekly label is too close.
    labelled = list(range(0, period_days, 7))
    if period_days - 1 - labelled[-1] >= 3:
        labelled.append(period_days - 1)
    x_ticks = [
        Tick(round(LEFT + slot * (i + 0.5), 1), _short(first_day + timedelta(days=i))) for i in labelled
    ]
    pace = None
    if burn_rate > 0 and len(usage) < period_days:
        pace = Pace(round(LEFT + slot * len(usage), 1), float(WIDTH - RIGHT), y_of(burn_rate), burn_rate)
    return DailyChart(WIDTH, HEIGHT, bars, period_days, y_ticks, x_ticks, pace, baseline)
