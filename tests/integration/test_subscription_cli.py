"""`billing plans` and `billing scheduler --once --now T` as an operator runs them."""

from __future__ import annotations

import json

from billing_core.subscriptions import service
from tests.support.ledger import committed, create_org
from tests.support.processes import billing
from tests.support.subscriptions import at, subscription_grants


def test_an_operator_lists_plans_with_yearly_prices_and_changes_one(database_url):
    plans = json.loads(billing(database_url, "plans", "list", "--json").stdout)
    pro = next(p for p in plans if p["code"] == "pro")
    assert (pro["monthly_price_cents"], pro["yearly_price_cents"], pro["rollover"]) == (2000, 19200, False)

    out = billing(
        database_url, "plans", "set", "pro", "--credits-per-month", "1000", "--monthly-price-cents", "2500",
        "--max-agents", "12", "--stripe-price-monthly", "price_m", "--stripe-price-yearly", "price_y",
        "--recurrente-product-monthly", "prod_m", "--rollover",
    ).stdout  # fmt: skip
    assert "updated plan pro: 1000.000000 credits/month, 25.00/month, 240.00/year" in out
    pro = next(
        p for p in json.loads(billing(database_url, "plans", "list", "--json").stdout) if p["code"] == "pro"
    )
    assert (pro["credits_per_month"], pro["max_agents_per_organization"], pro["rollover"]) == (
        "1000.000000", 12, True,
    )  # fmt: skip
    assert (pro["stripe_price_monthly"], pro["stripe_price_yearly"], pro["recurrente_product_monthly"]) == (
        "price_m", "price_y", "prod_m",
    )  # fmt: skip
    assert "pro" in billing(database_url, "plans", "list").stdout


def test_the_scheduler_run_once_at_a_given_time_grants_a_yearly_month_once(database_url, engine):
    create_org(engine, "acme")
    applied = committed(
        engine,
        lambda c: service.activate_subscription(
            c, "acme", "pro", "year", "manual", "s1", at(3, 14), at(3, 14)
        ),
    )
    sub = applied.subscription.id
    first = billing(database_url, "scheduler", "--once", "--now", "2026-04-14T09:01:00Z").stdout
    second = billing(database_url, "scheduler", "--once", "--now", "2026-04-14T09:02:00Z").stdout
    assert first.startswith("granted 1,") and "expired 1 grant(s)" in first
    assert second.startswith("granted 0,")
    assert [g[0] for g in subscription_grants(engine, sub)] == ["2026-03-14", "2026-04-14"]
