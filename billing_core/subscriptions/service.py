"""Use cases: apply the state machine to the database through the caller's connection.

The caller's unit of work commits. Every grant is unique per (subscription, period start, kind),
so a webhook or a sweep applied twice grants once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from billing_core.errors import InvalidInput, InvalidTransition
from billing_core.plans.catalog import get_plan_config
from billing_core.subscriptions import state as machine
from billing_core.subscriptions import store
from billing_core.subscriptions.grants import already_granted, grant_for_period, granted_for_period
from billing_core.subscriptions.state import IN_FORCE, GrantPeriod, SubscriptionStatus
from billing_core.subscriptions.store import StoredSubscription

PROVIDERS = ("stripe", "recurrente", "manual")


@dataclass(frozen=True)
class Applied:
    subscription: StoredSubscription
    granted: bool


def _reload(connection: Connection, subscription_id: int, granted: bool) -> Applied:
    return Applied(store.load(connection, subscription_id), granted)


def activate_subscription(
    connection: Connection,
    organization_id: str,
    plan_code: str,
    interval: str,
    provider: str,
    provider_subscription_id: str,
    paid_at: datetime,
    now: datetime,
    *,
    provider_customer_id: str | None = None,
) -> Applied:
    """The first payment arrived: the subscription is active and its first month is granted.
    Reporting the same provider subscription again changes nothing."""
    if provider not in PROVIDERS:
        raise InvalidInput("provider", f"must be one of {', '.join(PROVIDERS)}")
    if not provider_subscription_id:
        raise InvalidInput("provider_subscription_id", "is required")
    plan = get_plan_config(connection, plan_code)
    existing = store.find_by_provider_id(connection, provider, provider_subscription_id)
    if existing is not None:
        first = machine.grant_period_at(existing.state, paid_at)
        granted = first is not None and grant_due(connection, existing, first, now)
        return _reload(connection, existing.id, granted)
    state, first = machine.activate(plan.terms, interval, paid_at)
    subscription_id = store.insert(
        connection, organization_id, provider, provider_subscription_id, state, now, provider_customer_id
    )
    sub = store.load(connection, subscription_id)
    return _reload(connection, subscription_id, grant_for_period(connection, sub, first, now))


def grant_due(connection: Connection, sub: StoredSubscription, period: GrantPeriod, now: datetime) -> bool:
    if sub.state.status != SubscriptionStatus.ACTIVE:
        return False
    return grant_for_period(connection, sub, period, now)


def record_renewal_payment(
    connection: Connection, subscription_id: int, period_start: datetime, now: datetime
) -> Applied:
    """The payment of the billing period starting at `period_start` succeeded (on time or after
    past due): the period advances once, a scheduled downgrade applies, the first month is granted."""
    sub = store.load(connection, subscription_id)
    if sub.state.period_start == period_start and sub.state.status in IN_FORCE:
        store.save(
            connection,
            sub.id,
            replace(sub.state, status=SubscriptionStatus.ACTIVE),
            now,
            pending_upgrade=_pending(sub),
        )
        sub = store.load(connection, subscription_id)
        period = machine.grant_period_at(sub.state, max(now, period_start))
        return _reload(connection, sub.id, period is not None and grant_due(connection, sub, period, now))
    if sub.state.period_end != period_start:
        raise InvalidInput("period_start", f"{period_start.isoformat()} is not the next billing period")
    state, first = machine.renew(sub.state)
    store.save(connection, sub.id, state, now)
    sub = store.load(connection, subscription_id)
    return _reload(connection, sub.id, grant_due(connection, sub, first, now))


def record_payment_failed(connection: Connection, subscription_id: int, now: datetime) -> Applied:
    """A renewal payment failed: past due, no grant until it is paid."""
    sub = store.load(connection, subscription_id)
    store.save(connection, sub.id, machine.payment_failed(sub.state), now)
    return _reload(connection, sub.id, False)


def cancel_at_period_end(connection: Connection, subscription_id: int, now: datetime) -> Applied:
    sub = store.load(connection, subscription_id)
    store.save(
        connection, sub.id, machine.cancel_at_period_end(sub.state), now, pending_upgrade=_pending(sub)
    )
    return _reload(connection, sub.id, False)


def resume(connection: Connection, subscription_id: int, now: datetime) -> Applied:
    sub = store.load(connection, subscription_id)
    store.save(connection, sub.id, machine.resume(sub.state, now), now, pending_upgrade=_pending(sub))
    return _reload(connection, sub.id, False)


def _pending(sub: StoredSubscription) -> tuple[str, int] | None:
    if sub.pending_upgrade_plan is None or sub.pending_upgrade_cents is None:
        return None
    return sub.pending_upgrade_plan, sub.pending_upgrade_cents


@dataclass(frozen=True)
class PlanChange:
    subscription: StoredSubscription
    upgrade: machine.UpgradeQuote | None
    charge_idempotency_key: str | None  # for the provider's charge of the upgrade


def upgrade_charge_key(sub: StoredSubscription, plan_code: str) -> str:
    return f"subscription:{sub.id}:upgrade:{plan_code}:{sub.state.period_start.isoformat()}"


def request_plan_change(
    connection: Connection, subscription_id: int, plan_code: str, interval: str, now: datetime
) -> PlanChange:
    """An upgrade is quoted (and waits for its payment); a downgrade is scheduled for period end."""
    sub = store.load(connection, subscription_id)
    current = get_plan_config(connection, sub.state.plan_code).terms
    target = get_plan_config(connection, plan_code).terms
    state, quote = machine.change_plan(sub.state, current, target, interval, now)
    pending = (quote.plan_code, quote.charge_cents) if quote else None
    store.save(connection, sub.id, state, now, pending_upgrade=pending)
    sub = store.load(connection, subscription_id)
    key = upgrade_charge_key(sub, plan_code) if quote else None
    return PlanChange(sub, quote, key)


def record_upgrade_payment(
    connection: Connection, subscription_id: int, plan_code: str, now: datetime
) -> Applied:
    """The upgrade's charge was paid: switch plans and grant the difference for the current month,
    once, however often the payment is reported."""
    sub = store.load(connection, subscription_id)
    if sub.pending_upgrade_plan != plan_code and sub.state.plan_code != plan_code:
        raise InvalidTransition(f"record an upgrade payment to {plan_code!r} for", "not being upgraded")
    state = machine.upgrade_paid(sub.state, plan_code)
    store.save(connection, sub.id, state, now)
    sub = store.load(connection, subscription_id)
    period = machine.grant_period_at(sub.state, now)
    if period is None or sub.state.status != SubscriptionStatus.ACTIVE:
        return Applied(sub, False)
    kind = f"upgrade:{plan_code}"
    target = get_plan_config(connection, plan_code).terms
    # The subscription row is locked: a concurrent report of this payment waits, then stops here.
    if already_granted(connection, sub.id, period.start, kind):
        return Applied(sub, False)
    amount = machine.upgrade_credits(granted_for_period(connection, sub.id, period.start), target)
    granted = amount > 0 and grant_for_period(connection, sub, period, now, kind=kind, amount=amount)
    return _reload(connection, sub.id, granted)


def change_plan_of_organization(
    connection: Connection, organization_id: str, plan_code: str, interval: str, now: datetime
) -> PlanChange:
    """`request_plan_change` on the organization's live subscription — except that asking again for
    an upgrade already quoted in this period returns that quote unchanged (same amount, same charge
    key), so a retried request charges once, whatever time has passed since."""
    sub = store.live_for_organization(connection, organization_id)
    if sub.pending_upgrade_plan == plan_code and sub.pending_upgrade_cents is not None:
        quote = machine.UpgradeQuote(plan_code, sub.pending_upgrade_cents)
        return PlanChange(sub, quote, upgrade_charge_key(sub, plan_code))
    return request_plan_change(connection, sub.id, plan_code, interval, now)
