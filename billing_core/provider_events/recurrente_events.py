"""Recurrente events (delivered through Svix) as subscription commands; the payment of a credit
pack's checkout (`checkout.metadata.purchase_id`) goes to purchase_events.py.

Checkout metadata {organization_id, plan, interval} comes back under `checkout.metadata`. Its
payloads carry no billing period, so a payment counts for the period that is due: the first one
activates, one near or after the current period's end renews.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from billing_core.errors import InvalidInput
from billing_core.provider_events import purchase_events
from billing_core.provider_events.common import (
    Handler,
    dig,
    existing,
    mark_past_due,
    pay_period,
    set_cancel_at_period_end,
)
from billing_core.subscriptions import service, store
from billing_core.usage.event import parse_time

EARLY_RENEWAL = timedelta(days=3)  # a renewal charge may run a little before the period ends


def _subscription_id(event: dict[str, Any]) -> Any:
    """The subscription a payment or subscription event is about: its `subscription` object, the
    event's own `su_` id, or (for an upgrade's one-off checkout) `checkout.metadata.subscription_id`."""
    own = event.get("id") if str(event.get("id", "")).startswith("su_") else None
    return dig(event, "subscription", "id") or own or dig(event, "checkout", "metadata", "subscription_id")


def payment_succeeded(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    if purchase_events.names_purchase(dig(event, "checkout", "metadata")):
        purchase_events.recurrente_payment_succeeded(connection, event, now)
        return
    paid_at = parse_time(event.get("created_at"), "created_at")
    subscription_id = _subscription_id(event)
    known = store.find_by_provider_id(connection, "recurrente", subscription_id) if subscription_id else None
    if known is None:
        metadata = dig(event, "checkout", "metadata") or {}
        for field in ("organization_id", "plan", "interval"):
            if not metadata.get(field):
                raise InvalidInput(f"checkout.metadata.{field}", "is required to activate")
        if not subscription_id:
            raise InvalidInput("subscription.id", "a recurring payment names its subscription")
        service.activate_subscription(
            connection,
            metadata["organization_id"],
            metadata["plan"],
            metadata["interval"],
            "recurrente",
            subscription_id,
            paid_at,
            now,
            provider_customer_id=dig(event, "customer", "id"),
        )
        return
    upgrade = dig(event, "checkout", "metadata", "upgrade_plan")
    if upgrade:  # the one-off checkout of an upgrade's prorated difference
        if known.pending_upgrade_plan == upgrade:  # otherwise applied already
            service.record_upgrade_payment(connection, known.id, upgrade, now)
        return
    due = (
        known.state.period_end
        if paid_at >= known.state.period_end - EARLY_RENEWAL
        else known.state.period_start
    )
    pay_period(connection, known, due, now)


def payment_failed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    if purchase_events.names_purchase(dig(event, "checkout", "metadata")):
        return  # a failed attempt on a pack's checkout page: the customer may pay there still
    mark_past_due(connection, existing(connection, "recurrente", _subscription_id(event)), now)


def subscription_canceled(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    set_cancel_at_period_end(
        connection, existing(connection, "recurrente", _subscription_id(event)), True, now
    )


def informational(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """Stored and marked processed; activation comes with the first payment."""


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": payment_succeeded,
    "intent.succeeded": payment_succeeded,
    "bank_transfer_intent.succeeded": payment_succeeded,
    "payment_intent.failed": payment_failed,
    "intent.failed": payment_failed,
    "subscription.create": informational,
    "subscription.past_due": payment_failed,
    # A paused subscription gets no grants until it is paid again, like one past due.
    "subscription.paused": payment_failed,
    "subscription.pause": payment_failed,
    "subscription.cancel": subscription_canceled,
}
