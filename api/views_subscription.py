"""An organization's subscription over HTTP: read it, subscribe through a provider's checkout, open
the billing portal, change plan, cancel at period end and resume (billing_core/subscriptions/actions.py does
the work, shared with the billing console)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from apiflask import APIBlueprint

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.actors import current_actor
from api.auth import organization_access
from api.redirects import check_redirects
from api.runtime import now, read, runtime
from api.schemas_subscription import (
    ChangeIn,
    ChangeOut,
    CheckoutIn,
    CheckoutOut,
    PortalIn,
    PortalOut,
    SubscriptionOut,
)
from billing_core.access import roles
from billing_core.access.service_keys import READ
from billing_core.subscriptions import actions
from billing_core.subscriptions.overview import SubscriptionOverview, live_overview, subscription_overview

bp = APIBlueprint("subscription", __name__, url_prefix="/v1", tag="Subscription")
SUB = "/organizations/<org>/subscription"
ACCESS = "enterprise"
_PROVIDER_ERRORS = {
    502: "The payment provider refused the call or could not be reached",
    503: "The payment provider is not configured on this server",
}


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
@organization_access(ACCESS, admin=roles.READ, service_scope=READ)
@bp.output(SubscriptionOut)
def get_subscription(org: str) -> Any:
    """The live subscription: plan, interval, status, current period, next grant, cancel at
    period end, a scheduled change and an upgrade waiting for its payment (`free`/`none` without)."""
    return present(read(lambda c: subscription_overview(c, org, now())))


@bp.post(f"{SUB}/checkout")
@organization_access(ACCESS, admin=roles.BILLING)
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
    check_redirects(success_url=body.success_url, cancel_url=body.cancel_url)
    wanted = actions.CheckoutRequest(
        body.plan, body.interval, body.provider, body.success_url, body.cancel_url
    )
    link = actions.start_checkout(runtime().engine, runtime().payments, org, wanted, now())
    return {
        "checkout_url": link.url,
        "provider": body.provider,
        "provider_reference": link.provider_reference,
    }


@bp.post(f"{SUB}/portal")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.input(PortalIn, location="json", arg_name="body")
@bp.output(PortalOut)
@bp.doc(responses={409: "The subscription's provider has no billing portal", **_PROVIDER_ERRORS})
def create_portal(org: str, body: PortalIn) -> Any:
    """A Stripe customer portal session (payment methods, invoices) for a Stripe subscription."""
    check_redirects(return_url=body.return_url)
    return {"url": actions.open_portal(runtime().engine, runtime().payments, org, body.return_url, now())}


@bp.post(f"{SUB}/change")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.input(ChangeIn, location="json", arg_name="body")
@bp.output(ChangeOut)
@bp.doc(responses={409: "The subscription cannot change now (e.g. canceled)", **_PROVIDER_ERRORS})
def change_plan(org: str, body: ChangeIn) -> Any:
    """Change plan. An upgrade charges the prorated difference now (once, whatever the retries)
    and, once paid, grants the difference in monthly credits; a downgrade, or an interval change,
    takes effect at the end of the period."""
    check_redirects(success_url=body.success_url, cancel_url=body.cancel_url)
    wanted = actions.ChangeRequest(body.plan, body.interval, body.success_url, body.cancel_url)
    upgrade = actions.change_plan(runtime().engine, runtime().payments, org, wanted, now(), current_actor())
    return {
        "subscription": present(read(lambda c: live_overview(c, org, now()))),
        "upgrade": asdict(upgrade) if upgrade is not None else None,
    }


def _set_cancel(org: str, cancel: bool) -> Any:
    actions.set_cancel_at_period_end(
        runtime().engine, runtime().payments, org, cancel, now(), current_actor()
    )
    return present(read(lambda c: live_overview(c, org, now())))


@bp.post(f"{SUB}/cancel")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.output(SubscriptionOut)
@bp.doc(responses={409: "The subscription is not active or past due", **_PROVIDER_ERRORS})
def cancel_subscription(org: str) -> Any:
    """Cancel at the end of the period: credits stay usable until then, then expire; no further
    grant. Cancelling again changes nothing."""
    return _set_cancel(org, True)


@bp.post(f"{SUB}/resume")
@organization_access(ACCESS, admin=roles.BILLING)
@bp.output(SubscriptionOut)
@bp.doc(
    responses={409: "The period has ended, or the provider cannot resume (Recurrente)", **_PROVIDER_ERRORS}
)
def resume_subscription(org: str) -> Any:
    """Undo a cancellation before the period ends. Resuming one not canceled changes nothing."""
    return _set_cancel(org, False)
