"""The subscription use cases the API, the billing console and the CLI share: subscribe through a
provider's checkout, open the billing portal, change plan, cancel at period end and resume.

Each takes the engine and the configured payment providers (by name) and raises domain errors.
The provider is called before the local change is committed (cancel, resume), or after the quote is
committed (upgrade): a provider that refuses leaves our state as it was, and a retried upgrade
reuses its quote and its idempotency key, so it is charged once."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from billing_core import audit
from billing_core.audit import SYSTEM, Actor
from billing_core.db.uow import committed, read_only
from billing_core.errors import (
    AlreadySubscribed,
    FreePlan,
    NotSupportedByProvider,
    ProviderNotConfigured,
    UnknownSubscription,
)
from billing_core.plans.catalog import get_plan_config
from billing_core.subscriptions import service
from billing_core.subscriptions import state as machine
from billing_core.subscriptions.overview import live_overview, subscription_overview
from billing_core.subscriptions.payment_port import (
    CheckoutLink,
    PaymentProvider,
    UpgradeCharge,
    UpgradeTarget,
)
from billing_core.subscriptions.service import PlanChange
from billing_core.subscriptions.store import StoredSubscription

Providers = Mapping[str, PaymentProvider]  # the configured providers, by name


def provider_named(payments: Providers, name: str) -> PaymentProvider:
    """The adapter of a configured provider; ProviderNotConfigured otherwise."""
    provider = payments.get(name)
    if provider is None:
        raise ProviderNotConfigured(name)
    return provider


def provider_of(payments: Providers, sub: StoredSubscription) -> PaymentProvider | None:
    """The adapter a subscription is billed through; None for a manual one (nothing to call)."""
    if sub.provider is None or sub.provider == "manual":
        return None
    return provider_named(payments, sub.provider)


def live_subscription(engine: Engine, org: str, now: datetime) -> StoredSubscription:
    """The organization's live subscription; UnknownSubscription when it has none."""
    sub = read_only(engine, lambda c: live_overview(c, org, now)).subscription
    if sub is None:
        raise UnknownSubscription(f"for organization {org!r}")
    return sub


@dataclass(frozen=True)
class CheckoutRequest:
    plan: str
    interval: str
    provider: str
    success_url: str
    cancel_url: str

    def idempotency_key(self, org: str, day: str) -> str:
        """The same request on the same (UTC) day gets the same checkout (provider sessions last a day)."""
        parts = "\n".join(
            (org, self.plan, self.interval, self.provider, self.success_url, self.cancel_url, day)
        )
        return "checkout:" + hashlib.sha256(parts.encode()).hexdigest()[:40]


def start_checkout(
    engine: Engine, payments: Providers, org: str, wanted: CheckoutRequest, now: datetime
) -> CheckoutLink:
    """A provider's checkout page for subscribing; AlreadySubscribed for a subscribed organization."""
    view = read_only(engine, lambda c: subscription_overview(c, org, now))
    if view.subscription is not None:
        raise AlreadySubscribed(org)
    plan = read_only(engine, lambda c: get_plan_config(c, wanted.plan))
    if plan.monthly_price_cents <= 0:
        raise FreePlan(plan.code)
    provider = provider_named(payments, wanted.provider)
    key = wanted.idempotency_key(org, now.date().isoformat())
    return provider.create_checkout(org, plan, wanted.interval, wanted.success_url, wanted.cancel_url, key)


def open_portal(engine: Engine, payments: Providers, org: str, return_url: str, now: datetime) -> str:
    """The URL of a Stripe customer portal session for the organization's Stripe subscription."""
    view = read_only(engine, lambda c: live_overview(c, org, now))
    sub = live_subscription(engine, org, now)
    if sub.provider != "stripe" or not view.provider_customer_id:
        raise NotSupportedByProvider(sub.provider or "manual", "a billing portal")
    return provider_named(payments, "stripe").create_portal_session(view.provider_customer_id, return_url)


@dataclass(frozen=True)
class ChangeRequest:
    plan: str
    interval: str
    success_url: str | None = None  # where a provider's payment page returns after paying an upgrade
    cancel_url: str | None = None


@dataclass(frozen=True)
class UpgradeOutcome:
    plan: str
    charge_cents: int
    currency: str
    status: str  # pending (manual), awaiting_payment (a checkout URL to pay), charged
    checkout_url: str | None
    provider_reference: str | None


def _charge(
    engine: Engine, payments: Providers, org: str, change: PlanChange, wanted: ChangeRequest
) -> UpgradeOutcome | None:
    quote, sub = change.upgrade, change.subscription
    if quote is None or change.charge_idempotency_key is None:
        return None
    plan = read_only(engine, lambda c: get_plan_config(c, quote.plan_code))
    provider = provider_of(payments, sub)
    if provider is None or sub.provider_subscription_id is None:
        return UpgradeOutcome(quote.plan_code, quote.charge_cents, plan.currency, "pending", None, None)
    target = UpgradeTarget(
        org,
        sub.id,
        sub.provider_subscription_id,
        plan,
        sub.state.interval,
        wanted.success_url,
        wanted.cancel_url,
    )
    charge: UpgradeCharge = provider.charge_upgrade(target, quote.charge_cents, change.charge_idempotency_key)
    status = "awaiting_payment" if charge.checkout_url else "charged"
    return UpgradeOutcome(
        quote.plan_code,
        quote.charge_cents,
        plan.currency,
        status,
        charge.checkout_url,
        charge.provider_reference,
    )


def _schedule_at_provider(
    engine: Engine, payments: Providers, org: str, sub: StoredSubscription, wanted: ChangeRequest
) -> None:
    """A downgrade or interval change is billed by the provider from the next renewal on."""
    current = read_only(engine, lambda c: get_plan_config(c, sub.state.plan_code))
    target = read_only(engine, lambda c: get_plan_config(c, wanted.plan))
    same_terms = (wanted.plan, wanted.interval) == (sub.state.plan_code, sub.state.interval)
    if same_terms or machine.is_upgrade(current.terms, target.terms):
        return
    provider = provider_of(payments, sub)
    if provider is None or sub.provider_subscription_id is None:
        return
    target_at = UpgradeTarget(org, sub.id, sub.provider_subscription_id, target, wanted.interval)
    key = (
        f"subscription:{sub.id}:schedule:{wanted.plan}:{wanted.interval}:{sub.state.period_start.isoformat()}"
    )
    provider.schedule_plan_change(target_at, key)


def change_plan(
    engine: Engine,
    payments: Providers,
    org: str,
    wanted: ChangeRequest,
    now: datetime,
    actor: Actor = SYSTEM,
) -> UpgradeOutcome | None:
    """Change plan: an upgrade is charged now (the outcome says how), a downgrade or an interval
    change waits for the end of the period (None). Audited (`subscription.change`) in the
    transaction of the local change."""
    sub = live_subscription(engine, org, now)
    provider_of(payments, sub)  # ProviderNotConfigured before anything is written
    _schedule_at_provider(engine, payments, org, sub, wanted)  # a refusal changes nothing here
    before = {"plan": sub.state.plan_code, "interval": sub.state.interval}
    after = {"plan": wanted.plan, "interval": wanted.interval}

    def work(connection: Connection) -> PlanChange:
        change = service.change_plan_of_organization(connection, org, wanted.plan, wanted.interval, now)
        target = ("subscription", sub.id)
        details = {"before": before, "after": after}
        audit.record(
            connection, actor, "subscription.change", organization_id=org, target=target, details=details
        )
        return change

    change = committed(engine, work)
    return _charge(engine, payments, org, change, wanted)


def set_cancel_at_period_end(
    engine: Engine, payments: Providers, org: str, cancel: bool, now: datetime, actor: Actor = SYSTEM
) -> None:
    """Cancel at period end (True) or resume (False); asking for the state it is in changes nothing."""
    sub = live_subscription(engine, org, now)
    if sub.state.cancel_at_period_end == cancel:
        return
    # Refuse what the state machine refuses before asking the provider.
    if cancel:
        machine.cancel_at_period_end(sub.state)
    else:
        machine.resume(sub.state, now)
    provider = provider_of(payments, sub)
    if provider is not None and sub.provider_subscription_id is not None:
        key = f"subscription:{sub.id}:{'cancel' if cancel else 'resume'}:{uuid.uuid4()}"
        call = provider.cancel_at_period_end if cancel else provider.resume
        call(sub.provider_subscription_id, key)
    act = service.cancel_at_period_end if cancel else service.resume

    def work(connection: Connection) -> None:
        act(connection, sub.id, now)
        action = "subscription.cancel" if cancel else "subscription.resume"
        audit.record(connection, actor, action, organization_id=org, target=("subscription", sub.id))

    committed(engine, work)
