"""Stripe events (API objects as Stripe sends them) as subscription commands; purchase events are in
purchase_events.py.

Activation and renewals come from `invoice.paid`. The plan and interval of a new subscription come
from its price (the plan catalog's Stripe price ids), so a subscription created in the Dashboard or
by the API activates too; its metadata is only where the organization is found
(`metadata.organization_id`; invoices carry the subscription's metadata under
`parent.subscription_details.metadata`). An event that can never apply (a price no plan has, no
organization) raises UnapplicableEvent: its inbox row is parked as rejected, not retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, NotYet, UnapplicableEvent
from billing_core.provider_events import purchase_events
from billing_core.provider_events.common import (
    Handler,
    dig,
    end_now,
    epoch,
    existing,
    mark_past_due,
    newer_than_seen,
    pay_period,
    set_cancel_at_period_end,
)
from billing_core.provider_events.inbox import stored_object
from billing_core.queries.organizations import organization_exists
from billing_core.subscriptions import service, store
from billing_core.subscriptions.state import IN_FORCE
from billing_core.subscriptions.store import StoredSubscription


def _invoice_subscription(invoice: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    details = dig(invoice, "parent", "subscription_details") or {}
    subscription = details.get("subscription") or invoice.get("subscription")
    return subscription, details.get("metadata") or {}


def _invoice_period_start(invoice: dict[str, Any]) -> datetime:
    lines = dig(invoice, "lines", "data") or []
    start = dig(lines[0], "period", "start") if lines else invoice.get("period_start")
    if start is None:
        raise InvalidInput("invoice.lines", "no billing period on the invoice")
    return epoch(start)


def invoice_paid(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    invoice = event["data"]["object"]
    subscription_id, metadata = _invoice_subscription(invoice)
    period_start = _invoice_period_start(invoice)
    known = store.find_by_provider_id(connection, "stripe", subscription_id) if subscription_id else None
    if known is None and invoice.get("billing_reason") in ("subscription_create", None):
        if not isinstance(subscription_id, str) or not subscription_id:
            raise InvalidInput("invoice.parent.subscription_details.subscription", "names no subscription")
        org, plan, interval = _activation_terms(connection, invoice, subscription_id, metadata)
        service.activate_subscription(
            connection,
            org,
            plan,
            interval,
            "stripe",
            subscription_id,
            period_start,
            now,
            provider_customer_id=invoice.get("customer"),
        )
        return
    sub = existing(connection, "stripe", subscription_id)
    if invoice.get("billing_reason") == "subscription_update":
        # The prorated charge of an upgrade pays for the pending upgrade; with none pending it
        # was applied already (a redelivery under a new event id).
        if sub.pending_upgrade_plan:
            service.record_upgrade_payment(connection, sub.id, sub.pending_upgrade_plan, now)
            return
        paid_for = _plan_of_price(connection, _line_price(invoice))
        if paid_for is not None and paid_for[0] != sub.state.plan_code:
            # An upgrade made at Stripe (e.g. in the portal) whose subscription.updated event has
            # not been applied yet: that event records the upgrade, then this payment grants it.
            raise NotYet(f"upgrade of {subscription_id} to {paid_for[0]} not recorded yet")
        return
    pay_period(connection, sub, period_start, now)


def _activation_terms(
    connection: Connection, invoice: dict[str, Any], subscription_id: str, metadata: dict[str, Any]
) -> tuple[str, str, str]:
    """(organization, plan, interval) of the first invoice of a subscription we do not know yet.
    The plan and interval are those whose Stripe price the invoice (or the subscription) names;
    only an invoice naming no price falls back on our own checkout's `metadata.plan`/`interval`.
    Older API versions put no subscription metadata on the invoice: it is then taken from the
    subscription's own stored event, or the invoice waits for that event."""
    stored = stored_object(connection, "stripe", subscription_id, SUBSCRIPTION_EVENTS)
    if not metadata and stored is None and dig(invoice, "parent", "subscription_details") is None:
        raise NotYet(f"no metadata for {subscription_id} yet")
    metadata = metadata or dig(stored, "metadata") or {}
    org = metadata.get("organization_id")
    if not isinstance(org, str) or not org:
        raise UnapplicableEvent(
            "unknown_organization", f"subscription {subscription_id} has no metadata.organization_id"
        )
    if not organization_exists(connection, org):
        raise UnapplicableEvent(
            "unknown_organization", f"metadata.organization_id of {subscription_id}: no organization {org!r}"
        )
    price = _line_price(invoice) or (_item_price(stored) if stored is not None else None)
    if price is not None:
        terms = _plan_of_price(connection, price)
        if terms is None:
            raise UnapplicableEvent(
                "unknown_price",
                f"subscription {subscription_id}: price {price!r} is no plan's Stripe price "
                "(billing plans set CODE --stripe-price-monthly/--stripe-price-yearly, then replay)",
            )
        return org, *terms
    plan, interval = metadata.get("plan"), metadata.get("interval")
    if isinstance(plan, str) and plan and isinstance(interval, str) and interval:
        return org, plan, interval
    if stored is None:
        raise NotYet(f"no price for {subscription_id} yet")
    raise UnapplicableEvent("unknown_price", f"subscription {subscription_id} names no price")


def _unknown_subscription(connection: Connection, subscription: dict[str, Any]) -> NoReturn:
    """An event about a subscription we do not know: parked if it can never be known as it is (no
    organization, a price no plan has), else it waits for the subscription's activation."""
    subscription_id = subscription.get("id")
    metadata = subscription.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("organization_id"):
        raise UnapplicableEvent(
            "unknown_organization", f"subscription {subscription_id} has no metadata.organization_id"
        )
    price = _item_price(subscription)
    if price is not None and _plan_of_price(connection, price) is None:
        raise UnapplicableEvent(
            "unknown_price", f"subscription {subscription_id}: price {price!r} is no plan's Stripe price"
        )
    raise NotYet(f"stripe subscription {subscription_id!r} is not known yet")


def _subscription_of(connection: Connection, subscription: dict[str, Any]) -> StoredSubscription:
    found = store.find_by_provider_id(connection, "stripe", subscription.get("id") or "")
    if found is None:
        _unknown_subscription(connection, subscription)
    return found


def invoice_payment_failed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    invoice = event["data"]["object"]
    subscription_id, _ = _invoice_subscription(invoice)
    sub = existing(connection, "stripe", subscription_id)
    if _invoice_period_start(invoice) >= sub.state.period_end:  # the renewal is not paid yet
        mark_past_due(connection, sub, now)


def subscription_updated(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    obj = event["data"]["object"]
    sub = _subscription_of(connection, obj)
    if not newer_than_seen(connection, sub, epoch(event["created"])):
        return
    set_cancel_at_period_end(connection, sub, bool(obj.get("cancel_at_period_end")), now)
    target = _plan_of_price(connection, _item_price(obj))
    sub = store.load(connection, sub.id)
    known = {(sub.state.plan_code, sub.state.interval), (sub.state.next_plan_code, sub.state.next_interval)}
    if target is None or target in known or sub.pending_upgrade_plan == target[0]:
        return
    if sub.state.status in IN_FORCE:
        # A plan changed at Stripe: an upgrade waits for its invoice, a downgrade for period end.
        service.request_plan_change(connection, sub.id, target[0], target[1], now)


def _item_price(subscription: dict[str, Any] | None) -> str | None:
    items = dig(subscription, "items", "data") or []
    if len(items) != 1:
        return None
    price = dig(items[0], "price", "id") or dig(items[0], "plan", "id")
    return price if isinstance(price, str) else None


def _line_price(invoice: dict[str, Any]) -> str | None:
    lines = dig(invoice, "lines", "data") or []
    for line in reversed(lines):  # the proration's last line is the new price
        price = (
            dig(line, "price", "id")
            or dig(line, "plan", "id")
            or dig(line, "pricing", "price_details", "price")
        )
        if isinstance(price, str):
            return price
    return None


def _plan_of_price(connection: Connection, price_id: str | None) -> tuple[str, str] | None:
    """The (plan, interval) whose Stripe price this is, if any."""
    if not price_id:
        return None
    row = connection.execute(
        text(
            "SELECT code, CASE WHEN stripe_price_monthly = :p THEN 'month' ELSE 'year' END FROM plans "
            "WHERE stripe_price_monthly = :p OR stripe_price_yearly = :p ORDER BY code LIMIT 1"
        ),
        {"p": price_id},
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


def subscription_deleted(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    end_now(connection, _subscription_of(connection, event["data"]["object"]), now)


def informational(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """Stored and marked processed; the state changes come with the invoice events."""


SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated")

HANDLERS: dict[str, Handler] = {
    **purchase_events.STRIPE_HANDLERS,
    "customer.subscription.created": informational,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,  # the older name of the same event, still sent
    "invoice.payment_failed": invoice_payment_failed,
}
