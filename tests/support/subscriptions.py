"""Worked example 7 in code: Pro at 1,000 credits for US$20, and a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from billing_core.plans.catalog import set_plan
from billing_core.subscriptions import service
from billing_core.subscriptions.sweeper import SweepResult, sweep
from tests.support.ledger import committed, create_org

MAR_14 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def example_plans(engine: Engine) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    committed(
        engine, lambda c: set_plan(c, "pro", now, credits_per_month=1_000_000_000, monthly_price_cents=2_000)
    )
    committed(
        engine,
        lambda c: set_plan(c, "business", now, credits_per_month=5_000_000_000, monthly_price_cents=9_900),
    )
    committed(engine, lambda c: set_plan(c, "starter", now, credits_per_month=100_000_000))


def subscribe(
    engine: Engine, org: str, interval: str = "month", *, plan: str = "pro", at_: datetime = MAR_14
) -> int:
    create_org(engine, org)
    applied = committed(
        engine,
        lambda c: service.activate_subscription(c, org, plan, interval, "manual", f"sub-{org}", at_, at_),
    )
    return applied.subscription.id  # type: ignore[no-any-return]


def run_sweep(engine: Engine, now: datetime) -> SweepResult:
    return committed(engine, lambda c: sweep(c, now))  # type: ignore[no-any-return]


def subscription_grants(engine: Engine, subscription_id: int) -> list[tuple[str, int, datetime | None, str]]:
    """(period start date, amount in credits, expiry, kind) of every grant of the subscription."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT period_start, amount, expires_at, grant_kind FROM credit_grants "
                "WHERE subscription_id = :id ORDER BY period_start, id"
            ),
            {"id": subscription_id},
        ).all()
    return [(r[0].astimezone(UTC).date().isoformat(), r[1] // 1_000_000, r[2], r[3]) for r in rows]


def status_of(engine: Engine, subscription_id: int) -> tuple[str, str, bool]:
    with engine.connect() as c:
        row = c.execute(
            text("SELECT status, plan_code, cancel_at_period_end FROM subscriptions WHERE id = :id"),
            {"id": subscription_id},
        ).one()
    return row[0], row[1], row[2]


def with_stripe_prices(engine: Engine) -> None:
    """Pro with monthly and yearly Stripe prices; Business with a monthly one only."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    prices = {"pro": ("price_pro_m", "price_pro_y"), "business": ("price_biz_m", None)}
    for code, (monthly, yearly) in prices.items():
        committed(
            engine,
            lambda c, code=code, monthly=monthly, yearly=yearly: set_plan(
                c,
                code,
                now,
                credits_per_month=1_000_000_000 if code == "pro" else 5_000_000_000,
                stripe_price_monthly=monthly,
                stripe_price_yearly=yearly,
            ),
        )


def subscribed_lately(
    engine: Engine,
    provider: str,
    *,
    org: str = "acme",
    plan: str = "pro",
    interval: str = "month",
    days_ago: int = 10,
    provider_id: str = "sub_1",
) -> tuple[int, datetime]:
    """A subscription paid `days_ago` days before the real now (the API's clock), with customer
    `cus_1`; returns its id and when it was paid."""
    paid = (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0)
    applied = committed(
        engine,
        lambda c: service.activate_subscription(
            c, org, plan, interval, provider, provider_id, paid, paid, provider_customer_id="cus_1"
        ),
    )
    return applied.subscription.id, paid
