"""What the subscription endpoints and the billing console both do: subscribe through a provider's
checkout, open the billing portal, change plan, cancel at period end and resume.

The provider is called before the local change is committed (cancel, resume), or after the quote is
committed (upgrade): a provider that refuses leaves our state as it was, and a retried upgrade
reuses its quote and its idempotency key, so it is charged once."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from api.errors import api_error
from api.runtime import read, runtime, write
from billing_core.plans.catalog import get_plan_config
from billing_core.subscriptions import service
from billing_core.subscriptions import state as machine
from billing_core.subscriptions.overview import live_overview, subscription_overview
from billing_core.subscriptions.payment_port import (
    CheckoutLink,
    NotSupportedByProvider,
    PaymentProvider,
    ProviderNotConfigured,
    UpgradeCharge,
    UpgradeTarget,
)
from billing_core.subscriptions.service import PlanChange
from billing_core.subscriptions.store import StoredSubscription


def now() -> datetime:
    return datetime.now(UTC)


def provider_named(name: str | None) -> PaymentProvider | None:
    """The adapter of a provider; None for manual subscriptions (no provider to call)."""
    if name is None or name == "manual":
        return None
    provider = runtime().payments.get(name)
    if provider is None:
        raise ProviderNotConfigured(name)
    return provider


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


def start_checkout(org: str, wanted: CheckoutRequest) -> CheckoutLink:
    """A provider's checkout page for subscribing; 409 when the organization is already subscribed."""
    at = now()
    view = read(lambda c: subscription_overview(c, org, at))
    if view.subscription is not None:
        raise api_error(409, "already_subscribed", "the organization has a live subscription; change it")
    plan = read(lambda c: get_plan_config(c, wanted.plan))
    if plan.monthly_price_cents <= 0:
        raise api_error(400, "plan_not_offered", f"plan {plan.code!r} is free", field="plan")
    provider = provider_named(wanted.provider)
    assert provider is not None
    key = wanted.idempotency_key(org, at.date().isoformat())
    return provider.create_checkout(org, plan, wanted.interval, wanted.success_url, wanted.cancel_url, key)


def open_portal(org: str, return_url: str) -> str:
    """The URL of a Stripe customer portal session for the organization's Stripe subscription."""
    view = read(lambda c: live_overview(c, org, now()))
    assert view.subscription is not None
    if view.subscription.provider != "stripe" or not view.provider_customer_id:
        raise NotSupportedByProvider(view.subscription.provider or "manual", "a billing portal")
    provider = provider_named("stripe")
    assert provider is not None
    return provider.create_portal_session(view.provider_customer_id, return_url)


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


def _charge(org: str, change: PlanChange, wanted: ChangeRequest) -> UpgradeOutcome | None:
    quote, sub = change.upgrade, change.subscription
    if quote is None or change.charge_idempotency_key is None:
        return None
    plan = read(lambda c: get_plan_config(c, quote.plan_code))
    provider = provider_named(sub.provider)
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


def _schedule_at_provider(org: str, sub: StoredSubscription, wanted: ChangeRequest) -> None:
    """A downgrade or interval change is billed by the provider from the next renewal on."""
    current = read(lambda c: get_plan_config(c, sub.state.plan_code))
    target = read(lambda c: get_plan_config(c, wanted.plan))
    same_terms = (wanted.plan, wanted.interval) == (sub.state.plan_code, sub.state.interval)
    if same_terms or machine.is_upgrade(current.terms, target.terms):
        return
    provider = provider_named(sub.provider)
    if provider is None or sub.provider_subscription_id is None:
        return
    target_at = UpgradeTarget(org, sub.id, sub.provider_subscription_id, target, wanted.interval)
    key = (
        f"subscription:{sub.id}:schedule:{wanted.plan}:{wanted.interval}:{sub.state.period_start.isoformat()}"
    )
    provider.schedule_plan_change(target_at, key)


def change_plan(org: str, wanted: ChangeRequest) -> UpgradeOutcome | None:
    """Change plan: an upgrade is charged now (the outcome says how), a downgrade or an interval
    change waits for the end of the period (None)."""
    view = read(lambda c: live_overview(c, org, now()))
    assert view.subscription is not None
    provider_named(view.subscription.provider)  # 503 before anything is written
    _schedule_at_provider(org, view.subscription, wanted)  # a refusal (409/502) changes nothing here
    change = write(lambda c: service.change_plan_of_organization(c, org, wanted.plan, wanted.interval, now()))
    return _charge(org, change, wanted)


def set_cancel_at_period_end(org: str, cancel: bool) -> None:
    """Cancel at period end (True) or resume (False); asking for the state it is in changes nothing."""
    at = now()
    sub = read(lambda c: live_overview(c, org, at)).subscription
    assert sub is not None
    if sub.state.cancel_at_period_end == cancel:
        return
    # Refuse what the state machine refuses before asking the provider.
    if cancel:
        machine.cancel_at_period_end(sub.state)
    else:
        machine.resume(sub.state, at)
    provider = provider_named(sub.provider)
    if provider is not None and sub.provider_subscription_id is not None:
        key = f"subscription:{sub.id}:{'cancel' if cancel else 'resume'}:{uuid.uuid4()}"
        call = provider.cancel_at_period_end if cancel else provider.resume
        call(sub.provider_subscription_id, key)
    act = service.cancel_at_period_end if cancel else service.resume
    write(lambda c: act(c, sub.id, now()))
