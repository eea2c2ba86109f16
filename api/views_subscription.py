"""An organization's subscription: read it, subscribe through a provider's checkout, open the billing
portal, change plan, cancel at period end and resume.

The provider is called before the local change is committed (cancel, resume), or after the quote is
committed (upgrade): a provider that refuses leaves our state as it was, and a retried upgrade
reuses its quote and its idempotency key, so it is charged once."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from apiflask import APIBlueprint

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.auth import organization_access
from api.errors import api_error
from api.runtime import read, runtime, write
from api.schemas_subscription import (
    ChangeIn,
    ChangeOut,
    CheckoutIn,
    CheckoutOut,
    PortalIn,
    PortalOut,
    SubscriptionOut,
)
from billing_core.payments import (
    NotSupportedByProvider,
    PaymentProvider,
    ProviderNotConfigured,
    UpgradeCharge,
    UpgradeTarget,
)
from billing_core.plan_catalog import get_plan_config
from billing_core.subscriptions import service
from billing_core.subscriptions import state as machine
from billing_core.subscriptions.overview import SubscriptionOverview, live_overview, subscription_overview
from billing_core.subscriptions.service import PlanChange
from billing_core.subscriptions.store import StoredSubscription

bp = APIBlueprint("subscription", __name__, url_prefix="/v1", tag="Subscription")
SUB = "/organizations/<org>/subscription"
ACCESS = "enterprise"
_PROVIDER_ERRORS = {
    502: "The payment provider refused the call or could not be reached",
    503: "The payment provider is not configured on this server",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _provider(name: str | None) -> PaymentProvider | None:
    """The adapter of a provider; None for manual subscriptions (no provider to call)."""
    if name is None or name == "manual":
        return None
    provider = runtime().payments.get(name)
    if provider is None:
        raise ProviderNotConfigured(name)
    return provider


def present(view: SubscriptionOverview) -> dict[str, Any]:
    sub = view.subscription
    if sub is None:
        return {
            "organization_id": view.organization_id,
            "plan": "free",
            "status": "none",
            "interval": None,
            "provider": None,
            "current_period_start": None,
            "current_period_end": None,
            "next_grant_at": None,
            "cancel_at_period_end": False,
            "scheduled_change": None,
            "pending_upgrade": None,
        }
    s = sub.state
    scheduled = None
    if s.next_plan_code is not None and s.next_interval is not None:
        scheduled = {"plan": s.next_plan_code, "interval": s.next_interval, "effective_at": s.period_end}
    pending = None
    if sub.pending_upgrade_plan is not None and sub.pending_upgrade_cents is not None:
        pending = {"plan": sub.pending_upgrade_plan, "charge_cents": sub.pending_upgrade_cents}
    return {
        "organization_id": view.organization_id,
        "plan": s.plan_code,
        "status": s.status,
        "interval": s.interval,
        "provider": sub.provider,
        "current_period_start": s.period_start,
        "current_period_end": s.period_end,
        "next_grant_at": view.next_grant_at,
        "cancel_at_period_end": s.cancel_at_period_end,
        "scheduled_change": scheduled,
        "pending_upgrade": pending,
    }


@bp.get(SUB)
@organization_access(ACCESS)
@bp.output(SubscriptionOut)
def get_subscription(org: str) -> Any:
    """The live subscription: plan, interval, status, current period, next grant, cancel at
    period end, a scheduled change and an upgrade waiting for its payment (`free`/`none` without)."""
    return present(read(lambda c: subscription_overview(c, org, _now())))


def _checkout_key(org: str, body: CheckoutIn, day: str) -> str:
    """The same request on the same (UTC) day gets the same checkout (provider sessions last a day)."""
    parts = "\n".join((org, body.plan, body.interval, body.provider, body.success_url, body.cancel_url, day))
    return "checkout:" + hashlib.sha256(parts.encode()).hexdigest()[:40]


@bp.post(f"{SUB}/checkout")
@organization_access(ACCESS)
@bp.input(CheckoutIn, location="json", arg_name="body")
@bp.output(CheckoutOut)
@bp.doc(
    responses={
        409: "The organization already has a live subscription (change it instead)",
        **_PROVIDER_ERRORS,
    }
)
def create_checkout(org: str, body: CheckoutIn) -> Any:
    """A provider's checkout page for subscribing to a plan. The subscription becomes active, and
    its first month's credits are granted, when the provider reports the payment (webhook)."""
    now = _now()
    view = read(lambda c: subscription_overview(c, org, now))
    if view.subscription is not None:
        raise api_error(409, "already_subscribed", "the organization has a live subscription; change it")
    plan = read(lambda c: get_plan_config(c, body.plan))
    if plan.monthly_price_cents <= 0:
        raise api_error(400, "plan_not_offered", f"plan {plan.code!r} is free", field="plan")
    provider = _provider(body.provider)
    assert provider is not None
    key = _checkout_key(org, body, now.date().isoformat())
    link = provider.create_checkout(org, plan, body.interval, body.success_url, body.cancel_url, key)
    return {
        "checkout_url": link.url,
        "provider": body.provider,
        "provider_reference": link.provider_reference,
    }


@bp.post(f"{SUB}/portal")
@organization_access(ACCESS)
@bp.input(PortalIn, location="json", arg_name="body")
@bp.output(PortalOut)
@bp.doc(responses={409: "The subscription's provider has no billing portal", **_PROVIDER_ERRORS})
def create_portal(org: str, body: PortalIn) -> Any:
    """A Stripe customer portal session (payment methods, invoices) for a Stripe subscription."""
    view = read(lambda c: live_overview(c, org, _now()))
    assert view.subscription is not None
    if view.subscription.provider != "stripe" or not view.provider_customer_id:
        raise NotSupportedByProvider(view.subscription.provider or "manual", "a billing portal")
    provider = _provider("stripe")
    assert provider is not None
    return {"url": provider.create_portal_session(view.provider_customer_id, body.return_url)}


def _charge(org: str, change: PlanChange, body: ChangeIn) -> dict[str, Any] | None:
    quote, sub = change.upgrade, change.subscription
    if quote is None or change.charge_idempotency_key is None:
        return None
    plan = read(lambda c: get_plan_config(c, quote.plan_code))
    upgrade = {"plan": quote.plan_code, "charge_cents": quote.charge_cents, "currency": plan.currency}
    provider = _provider(sub.provider)
    if provider is None or sub.provider_subscription_id is None:
        return {**upgrade, "status": "pending", "checkout_url": None, "provider_reference": None}
    target = UpgradeTarget(
        org, sub.id, sub.provider_subscription_id, plan, sub.state.interval, body.success_url, body.cancel_url
    )
    charge: UpgradeCharge = provider.charge_upgrade(target, quote.charge_cents, change.charge_idempotency_key)
    status = "awaiting_payment" if charge.checkout_url else "charged"
    return {
        **upgrade,
        "status": status,
        "checkout_url": charge.checkout_url,
        "provider_reference": charge.provider_reference,
    }


def _schedule_at_provider(org: str, sub: StoredSubscription, body: ChangeIn) -> None:
    """A downgrade or interval change is billed by the provider from the next renewal on."""
    current = read(lambda c: get_plan_config(c, sub.state.plan_code))
    target = read(lambda c: get_plan_config(c, body.plan))
    same_terms = (body.plan, body.interval) == (sub.state.plan_code, sub.state.interval)
    if same_terms or machine.is_upgrade(current.terms, target.terms):
        return
    provider = _provider(sub.provider)
    if provider is None or sub.provider_subscription_id is None:
        return
    target_at = UpgradeTarget(org, sub.id, sub.provider_subscription_id, target, body.interval)
    key = f"subscription:{sub.id}:schedule:{body.plan}:{body.interval}:{sub.state.period_start.isoformat()}"
    provider.schedule_plan_change(target_at, key)


@bp.post(f"{SUB}/change")
@organization_access(ACCESS)
@bp.input(ChangeIn, location="json", arg_name="body")
@bp.output(ChangeOut)
@bp.doc(responses={409: "The subscription cannot change now (e.g. canceled)", **_PROVIDER_ERRORS})
def change_plan(org: str, body: ChangeIn) -> Any:
    """Change plan. An upgrade charges the prorated difference now (once, whatever the retries)
    and, once paid, grants the difference in monthly credits; a downgrade, or an interval change,
    takes effect at the end of the period."""
    view = read(lambda c: live_overview(c, org, _now()))
    assert view.subscription is not None
    _provider(view.subscription.provider)  # 503 before anything is written
    _schedule_at_provider(org, view.subscription, body)  # a refusal (409/502) changes nothing here
    change = write(lambda c: service.change_plan_of_organization(c, org, body.plan, body.interval, _now()))
    upgrade = _charge(org, change, body)
    return {"subscription": present(read(lambda c: live_overview(c, org, _now()))), "upgrade": upgrade}


def _set_cancel(org: str, cancel: bool) -> Any:
    now = _now()
    sub = read(lambda c: live_overview(c, org, now)).subscription
    assert sub is not None
    if sub.state.cancel_at_period_end != cancel:
        # Refuse what the state machine refuses before asking the provider.
        if cancel:
            machine.cancel_at_period_end(sub.state)
        else:
            machine.resume(sub.state, now)
        provider = _provider(sub.provider)
        if provider is not None and sub.provider_subscription_id is not None:
            key = f"subscription:{sub.id}:{'cancel' if cancel else 'resume'}:{uuid.uuid4()}"
            call = provider.cancel_at_period_end if cancel else provider.resume
            call(sub.provider_subscription_id, key)
        act = service.cancel_at_period_end if cancel else service.resume
        write(lambda c: act(c, sub.id, _now()))
    return present(read(lambda c: live_overview(c, org, _now())))


@bp.post(f"{SUB}/cancel")
@organization_access(ACCESS)
@bp.output(SubscriptionOut)
@bp.doc(responses={409: "The subscription is not active or past due", **_PROVIDER_ERRORS})
def cancel_subscription(org: str) -> Any:
    """Cancel at the end of the period: credits stay usable until then, then expire; no further
    grant. Cancelling again changes nothing."""
    return _set_cancel(org, True)


@bp.post(f"{SUB}/resume")
@organization_access(ACCESS)
@bp.output(SubscriptionOut)
@bp.doc(
    responses={409: "The period has ended, or the provider cannot resume (Recurrente)", **_PROVIDER_ERRORS}
)
def resume_subscription(org: str) -> Any:
    """Undo a cancellation before the period ends. Resuming one not canceled changes nothing."""
    return _set_cancel(org, False)
