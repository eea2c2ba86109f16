"""Worked example 7, with time moved forward by the test: monthly and yearly subscribers, upgrade,
downgrade, cancellation, past due. Pro is 1,000 credits for US$20 a month; Business 5,000."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from dramatiq import Worker
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing_core.errors import InvalidInput, InvalidTransition
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.ledger.periods import current_period
from billing_core.plans.catalog import get_plan_config
from billing_core.queries.balance import balance_view
from billing_core.settings import Settings
from billing_core.subscriptions import service
from billing_core.subscriptions.calendar import add_months
from billing_core.subscriptions.sweeper import sweep
from tests.support.ledger import balance, committed, cr, debit, event, setup_prices, violations
from tests.support.pipeline import join_all
from tests.support.subscriptions import (
    at,
    example_plans,
    run_sweep,
    status_of,
    subscribe,
    subscription_grants,
)
from workers.actors import declare_actors
from workers.broker import build_broker
from workers.runtime import WorkerRuntime


@pytest.fixture(autouse=True)
def plans(engine):
    example_plans(engine)
    setup_prices(engine)


def test_a_monthly_subscriber_gets_the_next_grant_a_month_later_and_the_unused_rest_expires(engine):
    sub = subscribe(engine, "acme")  # paid on Mar 14
    assert balance(engine, "acme", at(3, 14)).balance == cr(1000)
    debit(engine, [event("e1", "acme", output_tokens=300, at=at(3, 20))], now=at(3, 20))
    assert run_sweep(engine, at(4, 13)).granted == 0  # a monthly plan is granted on payment

    committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))
    result = run_sweep(engine, at(4, 14, minute=1))

    assert result.expired == 1
    assert balance(engine, "acme", at(4, 14, minute=1)).balance == cr(1000)
    assert [(g[0], g[1], g[2]) for g in subscription_grants(engine, sub)] == [
        ("2026-03-14", 1000, at(4, 14)),
        ("2026-04-14", 1000, at(5, 14)),
    ]
    with engine.connect() as c:
        expired = c.execute(text("SELECT amount FROM credit_transactions WHERE type = 'expiration'")).all()
    assert expired == [(-cr(700),)]
    assert violations(engine) == []


def test_a_renewal_reported_twice_advances_the_period_and_grants_once(engine):
    sub = subscribe(engine, "acme")
    for _ in range(2):
        committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))
    assert [g[0] for g in subscription_grants(engine, sub)] == ["2026-03-14", "2026-04-14"]
    with pytest.raises(InvalidInput):  # a period that is neither the current nor the next one
        committed(engine, lambda c: service.record_renewal_payment(c, sub, at(6, 14), at(4, 15)))


def test_a_yearly_subscriber_pays_192_dollars_and_gets_twelve_monthly_grants_once_each(engine):
    with engine.connect() as c:
        assert get_plan_config(c, "pro").price_cents("year") == 19_200
    sub = subscribe(engine, "acme", "year")
    now, end = at(3, 14), at(3, 14, year=2027) + timedelta(days=3)
    while now < end:  # a sweep every day, and every minute around each anniversary
        run_sweep(engine, now)
        if now.day == 14:
            for minute in range(1, 6):
                run_sweep(engine, now + timedelta(minutes=minute))
        now += timedelta(days=1)

    grants = subscription_grants(engine, sub)
    assert [g[0] for g in grants] == [f"{2026 + (m > 12)}-{(m - 1) % 12 + 1:02d}-14" for m in range(3, 15)]
    assert {g[1] for g in grants} == {1000}
    starts = [add_months(at(3, 14), m) for m in range(12)]
    assert [g[2] for g in grants] == [add_months(s, 1) for s in starts]  # each expires a month later
    assert balance(engine, "acme", end).balance == 0  # the last month expired on Mar 14, 2027
    assert violations(engine) == []


def test_two_schedulers_sweeping_at_the_same_moment_grant_a_yearly_month_once(engine):
    sub = subscribe(engine, "acme", "year")
    moment = at(5, 14, minute=2)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            committed(engine, lambda c: sweep(c, moment))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    join_all(threads)
    assert errors == []
    assert [g[0] for g in subscription_grants(engine, sub)] == ["2026-03-14", "2026-05-14"]


def test_an_upgrade_mid_period_charges_the_prorated_difference_and_grants_4000_once(engine):
    sub = subscribe(engine, "acme")
    change = committed(engine, lambda c: service.request_plan_change(c, sub, "business", "month", at(3, 20)))
    assert change.upgrade is not None and change.upgrade.charge_cents == 6_371  # 79 USD × 25/31 days
    assert status_of(engine, sub)[1] == "pro"  # until the charge is paid

    for _ in range(3):  # the payment webhook arrives three times
        committed(engine, lambda c: service.record_upgrade_payment(c, sub, "business", at(3, 20, 10)))

    grants = subscription_grants(engine, sub)
    assert [(g[1], g[2], g[3]) for g in grants] == [
        (1000, at(4, 14), "period"),
        (4000, at(4, 14), "upgrade:business"),
    ]
    assert status_of(engine, sub)[1] == "business"
    assert balance(engine, "acme", at(3, 21)).balance == cr(5000)
    committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))
    assert subscription_grants(engine, sub)[-1][:2] == ("2026-04-14", 5000)


def test_a_downgrade_takes_effect_at_the_end_of_the_period(engine):
    sub = subscribe(engine, "acme")
    change = committed(engine, lambda c: service.request_plan_change(c, sub, "starter", "month", at(3, 20)))
    assert change.upgrade is None
    assert status_of(engine, sub)[1] == "pro"
    assert balance(engine, "acme", at(3, 20)).balance == cr(1000)

    committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))
    assert status_of(engine, sub)[1] == "starter"
    assert subscription_grants(engine, sub)[-1][:2] == ("2026-04-14", 100)


def test_a_canceled_subscription_is_usable_until_the_period_ends_then_expires_with_no_new_grant(engine):
    sub = subscribe(engine, "acme")
    committed(engine, lambda c: service.cancel_at_period_end(c, sub, at(3, 25)))
    assert status_of(engine, sub) == ("active", "pro", True)
    debit(engine, [event("e1", "acme", output_tokens=100, at=at(4, 13))], now=at(4, 13))
    assert balance(engine, "acme", at(4, 13)).balance == cr(900)

    for day in (14, 15, 20):
        run_sweep(engine, at(4, day, minute=1))
    run_sweep(engine, at(5, 14, minute=1))

    assert status_of(engine, sub)[0] == "canceled"
    assert balance(engine, "acme", at(5, 15)).balance == 0
    assert len(subscription_grants(engine, sub)) == 1
    with pytest.raises(InvalidTransition):
        committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))


def test_resuming_before_the_period_ends_undoes_the_cancellation(engine):
    sub = subscribe(engine, "acme", "year")
    committed(engine, lambda c: service.cancel_at_period_end(c, sub, at(3, 25)))
    committed(engine, lambda c: service.resume(c, sub, at(3, 30)))
    run_sweep(engine, at(4, 14, minute=1))
    assert status_of(engine, sub) == ("active", "pro", False)
    assert len(subscription_grants(engine, sub)) == 2


def test_past_due_withholds_the_grant_until_the_payment_two_days_later_then_grants_once(engine):
    sub = subscribe(engine, "acme")
    committed(engine, lambda c: service.record_payment_failed(c, sub, at(4, 14)))
    for day in (14, 15):
        run_sweep(engine, at(4, day, minute=5))
    assert status_of(engine, sub)[0] == "past_due"
    assert len(subscription_grants(engine, sub)) == 1
    assert balance(engine, "acme", at(4, 15)).balance == 0  # March's credits expired on Apr 14

    for _ in range(2):  # paid on Apr 16, reported twice
        committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 16)))
    run_sweep(engine, at(4, 16, minute=1))

    assert status_of(engine, sub)[0] == "active"
    assert [(g[0], g[1], g[2]) for g in subscription_grants(engine, sub)][1:] == [
        ("2026-04-14", 1000, at(5, 14))
    ]
    assert balance(engine, "acme", at(4, 16)).balance == cr(1000)
    assert violations(engine) == []


def test_the_database_refuses_a_second_monthly_grant_for_the_same_period_whatever_its_key(engine):
    sub = subscribe(engine, "acme")
    again = GrantRequest(
        "acme", cr(1000), "subscription_credit", "another-key", at(3, 15), at(4, 14),
        subscription_id=sub, period_start=at(3, 14),
    )  # fmt: skip
    with pytest.raises(IntegrityError, match="credit_grants_once_per_period"):
        committed(engine, lambda c: grant_credits(c, again, at(3, 15)))


def test_the_grant_actor_applies_a_due_month_once_however_often_the_message_arrives(engine, database_url):
    sub = subscribe(engine, "acme", "year")
    broker = build_broker(Settings(database_url=database_url))
    actors = declare_actors(broker, WorkerRuntime(Settings(database_url=database_url), engine=engine))
    worker = Worker(broker, worker_threads=2)
    worker.start()
    try:
        result = committed(engine, lambda c: sweep(c, at(4, 14, minute=1), apply_grants=False))
        assert [(d.subscription_id, d.period_start) for d in result.due] == [(sub, at(4, 14))]
        for _ in range(3):
            actors.grant_due_credits.send(sub, at(4, 14).isoformat(), at(4, 14, minute=1).isoformat())
        broker.join("grants")
        worker.join()
    finally:
        worker.stop()
        broker.close()
    assert [g[0] for g in subscription_grants(engine, sub)] == ["2026-03-14", "2026-04-14"]


def test_a_yearly_subscriber_sees_this_months_allowance_as_the_period_not_the_whole_year(engine):
    subscribe(engine, "acme", "year")  # paid on Mar 14: +1,000 on the 14th of each month
    run_sweep(engine, at(4, 14, minute=1))
    debit(engine, [event("april", "acme", output_tokens=100, at=at(4, 20))], now=at(4, 20))
    run_sweep(engine, at(5, 14, minute=1))  # April's rest expires, May's 1,000 arrive
    debit(engine, [event("may", "acme", output_tokens=250, at=at(5, 20))], now=at(5, 20))

    with engine.connect() as c:
        view = balance_view(c, "acme", at(5, 20))

    # This month's allowance window, not the paid year (Mar 14, 2026 – Mar 14, 2027). (Allocated and
    # used count rows by when the ledger recorded them, the real clock, which this test cannot move.)
    assert (view.period_start, view.period_end) == (at(5, 14), at(6, 14))
    assert view.balance == cr(750)


def test_the_period_of_a_yearly_subscription_anchored_on_the_31st_follows_the_month_ends(engine):
    subscribe(engine, "acme", "year", at_=at(1, 31))
    with engine.connect() as c:
        assert current_period(c, "acme", at(2, 10)) == (at(1, 31), at(2, 28))
        assert current_period(c, "acme", at(3, 1)) == (at(2, 28), at(3, 31))  # Jan 31 + 2 months
        assert current_period(c, "acme", at(1, 30, year=2027)) == (at(12, 31), at(1, 31, year=2027))


def test_a_monthly_subscriptions_period_is_its_billing_period(engine):
    sub = subscribe(engine, "acme")
    with engine.connect() as c:
        assert current_period(c, "acme", at(3, 20)) == (at(3, 14), at(4, 14))
    committed(engine, lambda c: service.record_renewal_payment(c, sub, at(4, 14), at(4, 14)))
    with engine.connect() as c:
        assert current_period(c, "acme", at(4, 15)) == (at(4, 14), at(5, 14))
