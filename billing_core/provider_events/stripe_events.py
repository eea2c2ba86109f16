"""Stripe events (API objects as Stripe sends them) as subscription commands.

The checkout sets `subscription_data.metadata` = {organization_id, plan, interval}; invoices carry it
under `parent.subscription_details.metadata`. Activation and renewals come from `invoice.paid`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, NotYet
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
from billing_core.provider_events.inbox import stored_object_metadata
from billing_core.subscriptions import service, store
from billing_core.subscriptions.state import IN_FORCE


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
        if not metadata and isinstance(subscription_id, str):
            # Older API versions put no subscription metadata on the invoice: take it from the
            # subscription's own event, or wait for that event.
            metadata = stored_object_metadata(connection, "stripe", subscription_id, SUBSCRIPTION_EVENTS)
            if not metadata:
                raise NotYet(f"no metadata for {subscription_id} yet")
        for field in ("organization_id", "plan", "interval"):
            if not metadata.get(field):
                raise InvalidInput(f"subscription metadata.{field}", "is required to activate")
        service.activate_subscription(
            connection,
            metadata["organization_id"],
            metadata["plan"],
            metadata["interval"],
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


def invoice_payment_failed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    invoice = event["data"]["object"]
    subscription_id, _ = _invoice_subscription(invoice)
    sub = existing(connection, "stripe", subscription_id)
    if _invoice_period_start(invoice) >= sub.state.period_end:  # the renewal is not paid yet
        mark_past_due(connection, sub, now)


def subscription_updated(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    obj = event["data"]["object"]
    sub = existing(connection, "stripe", obj.get("id"))
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


def _item_price(subscription: dict[str, Any]) -> str | None:
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
    end_now(connection, existing(connection, "stripe", event["data"]["object"].get("id")), now)


def informational(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """Stored and marked processed; the state changes come with the invoice events."""


SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated")

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": informational,
    "customer.subscription.created": informational,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,  # the older name of the same event, still sent
    "invoice.payment_failed": invoice_payment_failed,
}
