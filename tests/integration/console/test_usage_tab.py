"""The Usage tab: the chart's bar per day of the period so far, the row per model, and the
forecast of when the credits run out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing_core.spend.budgets import set_budget
from tests.support.api import manual_subscription
from tests.support.console import (
    PAGE,
    day_text,
    get,
    signed_in,
)
from tests.support.dom import dom
from tests.support.ledger import committed, cr, debit, event, grant


def test_the_usage_chart_has_a_bar_per_day_of_the_period_so_far_and_a_row_per_model(api, engine):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=9)
    now = datetime.now(UTC)
    grant(engine, "acme", 10_000, "seed", at=now)
    two_days_ago = now - timedelta(days=2)
    debit(
        engine,
        [
            event("a", "acme", output_tokens=30, at=two_days_ago),
            event("b", "acme", output_tokens=10, at=now),
            event("c", "acme", model="gpt-4o", input_tokens=1000, output_tokens=1000, at=now),
        ],
        now=now,
    )
    signed_in(api)

    response = get(api, f"{PAGE}?tab=usage")
    page = dom(response)

    assert page.by_id("tab-usage")["aria-selected"] == "true" and not page.by_id("panel-usage").hidden
    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    days = [start.date() + timedelta(days=i) for i in range((now.date() - start.date()).days + 1)]
    assert len(days) == 10
    assert [b["data-day"] for b in bars] == [d.isoformat() for d in days]
    by_day = {b["data-day"]: b for b in bars}
    assert by_day[two_days_ago.date().isoformat()]["data-credits"] == "30.00"
    assert by_day[now.date().isoformat()]["data-credits"] == "11.25"  # 10 + gpt-4o's 1.25
    empty = [
        b for d, b in by_day.items() if d not in (two_days_ago.date().isoformat(), now.date().isoformat())
    ]
    assert all(b["data-credits"] == "0.00" and float(b["height"]) == 0 for b in empty)
    tall, short = by_day[two_days_ago.date().isoformat()], by_day[now.date().isoformat()]
    assert float(tall["height"]) > float(short["height"]) > 0
    assert abs(float(short["height"]) / float(tall["height"]) - 11.25 / 30) < 0.01
    last = (start + timedelta(days=30) - timedelta(microseconds=1)).date()  # the end instant is exclusive
    assert (
        f"10 days of usage out of {(last - start.date()).days + 1} in the period"
        in page.by_id("chart-desc").text
    )
    assert page.find(id="forecast-pace") is not None  # usage in the last 7 days, days to go

    models = {
        r["data-model"]: [c.text for c in r.find_all()]
        for r in page.by_id("models").find_all("tr")
        if "data-model" in r.attrs
    }
    assert models == {
        "unit-model": ["unit-model", "40.00", "97.0%", "2", "0", "40"],
        "gpt-4o": ["gpt-4o", "1.25", "3.0%", "1", "1,000", "1,000"],
    }
    assert page.by_id("usage-total").text == "41.25"


def test_the_usage_tab_without_usage_has_empty_bars_no_pace_and_no_models(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=4)
    grant(engine, "acme", 100, "seed", at=datetime.now(UTC))
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=usage"))

    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    assert len(bars) == 5
    assert all(b["height"] == "0.0" for b in bars)
    assert page.find(id="forecast-pace") is None
    assert "No usage this period yet." in page.by_id("models").text
    assert "No run-out" in page.by_id("forecast").text


def test_the_forecast_shows_credits_running_out_before_the_period_ends(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=2)
    now = datetime.now(UTC)
    grant(engine, "acme", 70, "seed", at=now)
    debit(engine, [event("big", "acme", output_tokens=70, at=now)], now=now)  # 10 a day over 7 days
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=usage"))

    lasts = page.by_id("plan-lasts")
    assert "warn" in lasts["class"] and "Not enough to last" in lasts.text
    assert page.by_id("run-out-date").text == day_text(now)  # nothing left: today
    assert Decimal(page.by_id("usage-total").text) == Decimal(70)


def test_the_usage_tab_shows_each_budget_with_its_use_limit_and_reset(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    committed(
        engine,
        lambda c: set_budget(
            c,
            "acme",
            scope="agent",
            scope_id="agent-1",
            period="total",
            limit_micros=cr(50),
            hard=True,
            alert_thresholds=[80],
            now=now,
        ),
    )
    debit(engine, [event("m1", "acme", output_tokens=7, at=now)], now=now)
    signed_in(api)
    page = dom(get(api, f"{PAGE}?tab=usage"))
    [row] = page.by_id("budgets").find_all("tr")[1:]
    cells = [td.text for td in row.find_all("td")]
    assert cells[:5] == ["agent agent-1", "total", "7.00", "50.00", "hard: checks refuse past it"]
    assert cells[5] == "never"
