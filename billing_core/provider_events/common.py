"""What the provider translations share: the not-yet signal and small subscription commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.errors import InvalidTransition, NotYet
from billing_core.subscriptions import service, store
from billing_core.subscriptions.state import SubscriptionStatus
from billing_core.subscriptions.store import StoredSubscription

Handler = Callable[[Connection, dict[str, Any], datetime], None]


def dig(payload: Any, *path: str) -> Any:
    """payload[a][b]...; None when any step is missing."""
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def existing(connection: Connection, provider: str, provider_subscription_id: Any) -> StoredSubscription:
    """The subscription the event is about; NotYet if the event creating it was not processed yet."""
    sub = None
    if isinstance(provider_subscription_id, str) and provider_subscription_id:
        sub = store.find_by_provider_id(connection, provider, provider_subscription_id)
    if sub is None:
        raise NotYet(f"{provider} subscription {provider_subscription_id!r} is not known yet")
    return sub


def newer_than_seen(connection: Connection, sub: StoredSubscription, event_time: datetime) -> bool:
    """True (and remembered) if no later provider state was applied already: an older event never
    overwrites newer state."""
    updated = connection.execute(
        text(
            "UPDATE subscriptions SET provider_updated_at = :t WHERE id = :id "
            "AND (provider_updated_at IS NULL OR provider_updated_at <= :t) RETURNING id"
        ),
        {"t": event_time, "id": sub.id},
    ).first()
    return updated is not None


def set_cancel_at_period_end(
    connection: Connection, sub: StoredSubscription, cancel: bool, now: datetime
) -> None:
    if sub.state.cancel_at_period_end == cancel or sub.state.status == SubscriptionStatus.CANCELED:
        return
    try:
        if cancel:
            service.cancel_at_period_end(connection, sub.id, now)
        else:
            service.resume(connection, sub.id, now)
    except InvalidTransition:
        return  # the period already ended: nothing left to cancel or resume


def mark_past_due(connection: Connection, sub: StoredSubscription, now: datetime) -> None:
    if sub.state.status == SubscriptionStatus.ACTIVE:
        service.record_payment_failed(connection, sub.id, now)


def end_now(connection: Connection, sub: StoredSubscription, now: datetime) -> None:
    """The provider deleted the subscription: canceled, no further grants; granted credits keep
    their own expiry."""
    if sub.state.status != SubscriptionStatus.CANCELED:
        store.save(
            connection,
            sub.id,
            replace(sub.state, status=SubscriptionStatus.CANCELED, cancel_at_period_end=True),
            now,
        )


def pay_period(
    connection: Connection, sub: StoredSubscription, period_start: datetime, now: datetime
) -> None:
    """A payment for the period starting at `period_start`: applied once, in any order."""
    state = sub.state
    if period_start < state.period_start:
        return  # an older period, paid long ago
    if period_start == state.period_start:
        if state.status == SubscriptionStatus.PAST_DUE:
            service.record_renewal_payment(connection, sub.id, period_start, now)
        return
    if period_start == state.period_end:
        service.record_renewal_payment(connection, sub.id, period_start, now)
        return
    raise NotYet(f"payment for {period_start.isoformat()} arrived before the periods in between")
