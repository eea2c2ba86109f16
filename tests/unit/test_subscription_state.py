"""The subscription state machine and its calendar, without a database (worked example 7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_core.subscriptions import state as sm
from billing_core.subscriptions.calendar import add_months, prorate_cents, yearly_price_cents

CREDIT = 1_000_000
PRO = sm.PlanTerms("pro", 1_000 * CREDIT, 2_000)
BUSINESS = sm.PlanTerms("business", 5_000 * CREDIT, 9_900)
STARTER = sm.PlanTerms("starter", 100 * CREDIT, 1_000)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def test_the_yearly_price_is_twelve_months_at_twenty_percent_off_exactly_in_cents():
    assert yearly_price_cents(2_000) == 19_200
    assert yearly_price_cents(9_900) == 95_040
    assert yearly_price_cents(999) == 9_590  # 9590.4 cents rounds half up to a whole cent
    assert yearly_price_cents(0) == 0


def test_a_month_after_january_31_is_the_end_of_february_and_the_anchor_day_comes_back_in_march():
    jan31 = datetime(2026, 1, 31, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(jan31, 2) == datetime(2026, 3, 31, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(jan31, 12) == datetime(2027, 1, 31, tzinfo=UTC)


def test_a_monthly_subscription_on_march_14_is_granted_until_april_14_and_renews_to_may_14():
    sub, first = sm.activate(PRO, "month", at(3, 14))
    assert (sub.status, sub.period_start, sub.period_end) == ("active", at(3, 14), at(4, 14))
    assert first == sm.GrantPeriod(at(3, 14), at(4, 14))
    renewed, grant = sm.renew(sub)
    assert (renewed.period_start, renewed.period_end) == (at(4, 14), at(5, 14))
    assert grant == sm.GrantPeriod(at(4, 14), at(5, 14))


def test_a_yearly_subscription_has_twelve_monthly_grant_periods():
    sub, first = sm.activate(PRO, "year", at(3, 14))
    periods = sm.grant_periods(sub)
    assert len(periods) == 12
    assert periods[0] == first == sm.GrantPeriod(at(3, 14), at(4, 14))
    assert periods[-1] == sm.GrantPeriod(at(2, 14, 2027), at(3, 14, 2027))
    assert sm.due_grant_periods(sub, at(7, 20)) == [sm.GrantPeriod(at(7, 14), at(8, 14))]


def test_a_yearly_subscription_started_january_31_is_granted_at_each_month_end():
    sub, _ = sm.activate(PRO, "year", datetime(2026, 1, 31, tzinfo=UTC))
    starts = [p.start.date().isoformat() for p in sm.grant_periods(sub)[:3]]
    assert starts == ["2026-01-31", "2026-02-28", "2026-03-31"]


def test_a_past_due_subscription_has_no_grant_due_until_it_is_paid():
    sub, _ = sm.activate(PRO, "month", at(3, 14))
    late = sm.payment_failed(sub)
    assert late.status == "past_due"
    assert sm.due_grant_periods(late, at(4, 1)) == []
    paid, grant = sm.renew(late)
    assert paid.status == "active" and grant.start == at(4, 14)


def test_an_upgrade_on_march_20_is_charged_the_prorated_price_difference_of_the_rest_of_the_period():
    sub, _ = sm.activate(PRO, "month", at(3, 14))
    same, quote = sm.change_plan(sub, PRO, BUSINESS, "month", at(3, 20))
    assert quote is not None and quote.plan_code == "business"
    # 25 of 31 days left, of (99 - 20) dollars: 6370.97 cents, rounded half up
    assert quote.charge_cents == 6_371 == prorate_cents(7_900, at(3, 14), at(4, 14), at(3, 20))
    assert same.plan_code == "pro"  # the plan changes when the charge is paid
    assert sm.upgrade_paid(same, "business").plan_code == "business"
    assert sm.upgrade_credits(1_000 * CREDIT, BUSINESS) == 4_000 * CREDIT


def test_a_downgrade_waits_for_the_end_of_the_period():
    sub, _ = sm.activate(PRO, "month", at(3, 14))
    scheduled, quote = sm.change_plan(sub, PRO, STARTER, "month", at(3, 20))
    assert quote is None
    assert (scheduled.plan_code, scheduled.next_plan_code) == ("pro", "starter")
    renewed, _ = sm.renew(scheduled)
    assert (renewed.plan_code, renewed.next_plan_code) == ("starter", None)


def test_a_cancellation_ends_the_subscription_at_period_end_and_resuming_before_undoes_it():
    sub, _ = sm.activate(PRO, "month", at(3, 14))
    canceling = sm.cancel_at_period_end(sub)
    assert sm.end_period(canceling, at(4, 13)).status == "active"
    assert sm.end_period(canceling, at(4, 14)).status == "canceled"
    assert sm.end_period(sm.resume(canceling, at(3, 30)), at(4, 14)).status == "active"
    with pytest.raises(sm.InvalidTransition):
        sm.renew(canceling)
    with pytest.raises(sm.InvalidTransition):
        sm.resume(canceling, at(4, 15))
