"""The subscription state machine, shared by every payment provider: pure functions over values.

A subscription is billed per interval (a month or a year) and granted credits per month: a yearly
subscription gets twelve monthly grants. Months are counted from the billing anchor (the first
period's start), clamped to the end of shorter months, so Jan 31 → Feb 28 → Mar 31.
Each transition returns the new state and what must happen because of it (grants, a charge).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from billing_core.errors import InvalidTransition
from billing_core.subscriptions.calendar import (
    INTERVAL_MONTHS,
    add_months,
    interval_price_cents,
    months_between,
    prorate_cents,
)


class SubscriptionStatus(StrEnum):
    """Where a subscription is in its life (the `subscriptions.status` column)."""

    INCOMPLETE = "incomplete"  # created, first payment not confirmed yet
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal failed; the provider retries
    PAUSED = "paused"
    CANCELED = "canceled"


# A live subscription has not ended: an organization holds at most one (a unique index says so).
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED)
# A live subscription that is in force: its plan is the organization's plan, its months are granted.
IN_FORCE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def _sql_list(statuses: tuple[SubscriptionStatus, ...]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in statuses) + ")"


# The same sets as constant SQL lists, for fixed WHERE clauses: `status IN {IN_FORCE_SQL}`.
LIVE_SQL = _sql_list(LIVE)
IN_FORCE_SQL = _sql_list(IN_FORCE)


@dataclass(frozen=True)
class PlanTerms:
    """What the state machine needs to know about a plan."""

    code: str
    credits_per_month: int  # micro-credits
    monthly_price_cents: int
    rollover: bool = False


@dataclass(frozen=True)
class Subscription:
    plan_code: str
    interval: str
    status: str
    anchor: datetime
    period_start: datetime
    period_end: datetime
    cancel_at_period_end: bool = False
    next_plan_code: str | None = None
    next_interval: str | None = None


@dataclass(frozen=True)
class GrantPeriod:
    """One monthly allowance: granted once per (subscription, start)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class UpgradeQuote:
    """An immediate upgrade: charge `charge_cents` now; once paid, switch to `plan_code`."""

    plan_code: str
    charge_cents: int


def billing_period(anchor: datetime, interval: str, index: int) -> tuple[datetime, datetime]:
    months = INTERVAL_MONTHS[interval]
    return add_months(anchor, index * months), add_months(anchor, (index + 1) * months)


def grant_period_at(sub: Subscription, moment: datetime) -> GrantPeriod | None:
    """The monthly grant period containing `moment`, if it lies in the paid billing period."""
    if not sub.period_start <= moment < sub.period_end:
        return None
    n = months_between(sub.anchor, moment)
    return GrantPeriod(add_months(sub.anchor, n), min(add_months(sub.anchor, n + 1), sub.period_end))


def grant_periods(sub: Subscription) -> list[GrantPeriod]:
    """Every monthly grant period of the current billing period (1 for monthly, 12 for yearly)."""
    periods = []
    moment = sub.period_start
    while moment < sub.period_end:
        period = grant_period_at(sub, moment)
        assert period is not None
        periods.append(period)
        moment = period.end
    return periods


def due_grant_periods(sub: Subscription, now: datetime, *, rollover: bool = False) -> list[GrantPeriod]:
    """Grant periods that should have been granted by `now`. Only an active subscription gets
    grants; a period already over is not granted late (its credits would expire at once) unless
    the plan rolls unused credits over."""
    if sub.status != SubscriptionStatus.ACTIVE:
        return []
    return [p for p in grant_periods(sub) if p.start <= now and (rollover or now < p.end)]


def activate(plan: PlanTerms, interval: str, paid_at: datetime) -> tuple[Subscription, GrantPeriod]:
    """The first payment: the subscription is active from `paid_at` and its first month is granted."""
    if interval not in INTERVAL_MONTHS:
        raise ValueError(f"unknown billing interval {interval!r}")
    start, end = billing_period(paid_at, interval, 0)
    sub = Subscription(plan.code, interval, SubscriptionStatus.ACTIVE, paid_at, start, end)
    first = grant_period_at(sub, paid_at)
    assert first is not None
    return sub, first


def renew(sub: Subscription) -> tuple[Subscription, GrantPeriod]:
    """The renewal payment succeeded (on time, or late after past_due): the next billing period
    starts where the last one ended, a scheduled downgrade takes effect, and its first month is due."""
    if sub.status not in IN_FORCE:
        raise InvalidTransition("renew", sub.status)
    if sub.cancel_at_period_end:
        raise InvalidTransition("renew", "canceled at period end")
    interval = sub.next_interval or sub.interval
    anchor = sub.anchor if interval == sub.interval else sub.period_end
    index = _period_index(anchor, interval, sub.period_end)
    start, end = billing_period(anchor, interval, index)
    renewed = replace(
        sub,
        plan_code=sub.next_plan_code or sub.plan_code,
        interval=interval,
        status=SubscriptionStatus.ACTIVE,
        anchor=anchor,
        period_start=start,
        period_end=end,
        next_plan_code=None,
        next_interval=None,
    )
    first = grant_period_at(renewed, start)
    assert first is not None
    return renewed, first


def _period_index(anchor: datetime, interval: str, start: datetime) -> int:
    return months_between(anchor, start) // INTERVAL_MONTHS[interval]


def payment_failed(sub: Subscription) -> Subscription:
    """A renewal payment failed: past due, and no grant until it is paid."""
    if sub.status not in IN_FORCE:
        raise InvalidTransition("mark past due", sub.status)
    return replace(sub, status=SubscriptionStatus.PAST_DUE)


def cancel_at_period_end(sub: Subscription) -> Subscription:
    if sub.status not in IN_FORCE:
        raise InvalidTransition("cancel", sub.status)
    return replace(sub, cancel_at_period_end=True)


def resume(sub: Subscription, now: datetime) -> Subscription:
    """Undo a cancellation before the period ends."""
    if sub.status not in IN_FORCE or now >= sub.period_end:
        raise InvalidTransition("resume", sub.status if now < sub.period_end else "ended")
    return replace(sub, cancel_at_period_end=False)


def end_period(sub: Subscription, now: datetime) -> Subscription:
    """At the end of the period a subscription canceled at period end becomes canceled."""
    if sub.cancel_at_period_end and sub.status != SubscriptionStatus.CANCELED and now >= sub.period_end:
        return replace(sub, status=SubscriptionStatus.CANCELED)
    return sub


def is_upgrade(current: PlanTerms, target: PlanTerms) -> bool:
    return (target.monthly_price_cents, target.credits_per_month) > (
        current.monthly_price_cents,
        current.credits_per_month,
    )


def change_plan(
    sub: Subscription, current: PlanTerms, target: PlanTerms, interval: str, now: datetime
) -> tuple[Subscription, UpgradeQuote | None]:
    """An upgrade is quoted now (the prorated price difference of the rest of the billing period);
    an interval change, or a downgrade, is scheduled for the end of the period."""
    if sub.status not in IN_FORCE:
        raise InvalidTransition("change the plan of", sub.status)
    if interval not in INTERVAL_MONTHS:
        raise ValueError(f"unknown billing interval {interval!r}")
    if is_upgrade(current, target):
        difference = interval_price_cents(target.monthly_price_cents, sub.interval) - interval_price_cents(
            current.monthly_price_cents, sub.interval
        )
        charge = prorate_cents(difference, sub.period_start, sub.period_end, now)
        scheduled = replace(sub, next_plan_code=None, next_interval=None)
        if interval != sub.interval:
            scheduled = replace(scheduled, next_plan_code=target.code, next_interval=interval)
        return scheduled, UpgradeQuote(target.code, charge)
    if target.code == sub.plan_code and interval == sub.interval:
        return replace(sub, next_plan_code=None, next_interval=None), None
    return replace(sub, next_plan_code=target.code, next_interval=interval), None


def upgrade_paid(sub: Subscription, plan_code: str) -> Subscription:
    """The upgrade's charge was paid: the new plan applies from now on."""
    if sub.status not in IN_FORCE:
        raise InvalidTransition("upgrade", sub.status)
    keep_next = sub.next_plan_code == plan_code  # an interval change scheduled with the upgrade
    return replace(
        sub,
        plan_code=plan_code,
        next_plan_code=sub.next_plan_code if keep_next else None,
        next_interval=sub.next_interval if keep_next else None,
    )


def upgrade_credits(granted_this_period: int, target: PlanTerms) -> int:
    """What an upgrade adds to the current month: the new allowance less what was granted for it."""
    return max(target.credits_per_month - granted_this_period, 0)
