"""Subscription notifications, from a subscription's state before and after a change (the store
writes every change through one function, which calls `notify_change` in the same transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from billing_core.notifications import events
from billing_core.notifications.outbox import emit


@dataclass(frozen=True)
class Snapshot:
    """What the notifications say about a subscription."""

    plan_code: str
    interval: str
    status: str
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool


def kinds_of_change(before: Snapshot | None, after: Snapshot) -> list[str]:
    """The notification types a change is: activated, past_due, canceled, renewed, changed."""
    live = ("active", "past_due")
    if before is None or (before.status not in live and after.status == "active"):
        return [events.SUBSCRIPTION_ACTIVATED] if after.status == "active" else []
    kinds: list[str] = []
    if after.status == "canceled" and before.status != "canceled":
        kinds.append(events.SUBSCRIPTION_CANCELED)
    elif after.status == "past_due" and before.status != "past_due":
        kinds.append(events.SUBSCRIPTION_PAST_DUE)
    if after.status in live and before.period_start != after.period_start and before.period_start is not None:
        kinds.append(events.SUBSCRIPTION_RENEWED)
    if (before.plan_code, before.interval, before.cancel_at_period_end) != (
        after.plan_code,
        after.interval,
        after.cancel_at_period_end,
    ) and after.status != "canceled":
        kinds.append(events.SUBSCRIPTION_CHANGED)
    return kinds


def notify_change(
    connection: Connection,
    organization_id: str,
    subscription_id: int,
    before: Snapshot | None,
    after: Snapshot,
) -> None:
    data = {
        "subscription_id": subscription_id,
        "plan": after.plan_code,
        "interval": after.interval,
        "status": after.status,
        "current_period_start": after.period_start,
        "current_period_end": after.period_end,
        "cancel_at_period_end": after.cancel_at_period_end,
    }
    # The state it reached identifies the change: repeating it (a redelivered webhook) sends nothing.
    state = (
        f"{after.plan_code}:{after.interval}:{after.status}:{after.period_start}:{after.cancel_at_period_end}"
    )
    for kind in kinds_of_change(before, after):
        emit(connection, kind, organization_id, data, f"{subscription_id}:{state}")
