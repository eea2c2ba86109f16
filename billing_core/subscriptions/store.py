"""Reading and writing subscription rows; the state machine's values go in and out here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from billing_core.errors import UnknownSubscription
from billing_core.notifications.subscription_events import Snapshot, notify_change
from billing_core.subscriptions.state import LIVE_SQL, Subscription


@dataclass(frozen=True)
class StoredSubscription:
    id: int
    organization_id: str
    provider: str | None
    provider_subscription_id: str | None
    state: Subscription
    pending_upgrade_plan: str | None
    pending_upgrade_cents: int | None


_COLUMNS = (
    "id, organization_id, provider, provider_subscription_id, plan_code, billing_interval, status, "
    "COALESCE(billing_anchor, current_period_start), current_period_start, current_period_end, "
    "cancel_at_period_end, next_plan_code, next_interval, pending_upgrade_plan, pending_upgrade_cents"
)


def _utc(value: object) -> object:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _stored(row: tuple[object, ...]) -> StoredSubscription:
    """Times in UTC, so that month arithmetic never depends on the session's time zone."""
    state = Subscription(*(_utc(v) for v in row[4:13]))  # type: ignore[arg-type]
    return StoredSubscription(row[0], row[1], row[2], row[3], state, row[13], row[14])  # type: ignore[arg-type]


def load(connection: Connection, subscription_id: int, *, lock: bool = True) -> StoredSubscription:
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE id = :id"  # noqa: S608
            + (" FOR UPDATE" if lock else "")
        ),
        {"id": subscription_id},
    ).first()
    if row is None:
        raise UnknownSubscription(f"with id {subscription_id}")
    return _stored(tuple(row))


def find_by_provider_id(
    connection: Connection, provider: str, provider_subscription_id: str
) -> StoredSubscription | None:
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE provider = :provider "  # noqa: S608
            "AND provider_subscription_id = :pid FOR UPDATE"
        ),
        {"provider": provider, "pid": provider_subscription_id},
    ).first()
    return None if row is None else _stored(tuple(row))


def live_for_organization(connection: Connection, organization_id: str) -> StoredSubscription:
    """The organization's active, past-due or paused subscription, locked."""
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE organization_id = :org "  # noqa: S608
            f"AND status IN {LIVE_SQL} FOR UPDATE"
        ),
        {"org": organization_id},
    ).first()
    if row is None:
        raise UnknownSubscription(f"for organization {organization_id!r}")
    return _stored(tuple(row))


def insert(
    connection: Connection,
    organization_id: str,
    provider: str,
    provider_subscription_id: str,
    state: Subscription,
    now: datetime,
    provider_customer_id: str | None = None,
) -> int:
    subscription_id: int = connection.execute(
        text(
            "INSERT INTO subscriptions (organization_id, plan_code, billing_interval, status, provider, "
            "provider_subscription_id, provider_customer_id, billing_anchor, current_period_start, "
            "current_period_end, cancel_at_period_end, created_at, updated_at) VALUES (:org, :plan, "
            ":interval, :status, :provider, :pid, :customer, :anchor, :start, :end, false, :now, :now) "
            "RETURNING id"
        ),
        {
            "org": organization_id,
            "plan": state.plan_code,
            "interval": state.interval,
            "status": state.status,
            "provider": provider,
            "pid": provider_subscription_id,
            "customer": provider_customer_id,
            "anchor": state.anchor,
            "start": state.period_start,
            "end": state.period_end,
            "now": now,
        },
    ).scalar_one()
    notify_change(connection, organization_id, subscription_id, None, _snapshot(state))
    return subscription_id


def save(
    connection: Connection,
    subscription_id: int,
    state: Subscription,
    now: datetime,
    *,
    pending_upgrade: tuple[str, int] | None = None,
) -> None:
    """Write a subscription's new state, and the notifications the change is, in the caller's
    transaction."""
    old = connection.execute(
        text(
            "SELECT organization_id, plan_code, billing_interval, status, current_period_start, "
            "current_period_end, cancel_at_period_end FROM subscriptions WHERE id = :id"
        ),
        {"id": subscription_id},
    ).first()
    connection.execute(
        text(
            "UPDATE subscriptions SET plan_code = :plan, billing_interval = :interval, status = :status, "
            "billing_anchor = :anchor, current_period_start = :start, current_period_end = :end, "
            "cancel_at_period_end = :cancel, next_plan_code = :next_plan, next_interval = :next_interval, "
            "pending_upgrade_plan = :upgrade_plan, pending_upgrade_cents = :upgrade_cents, "
            "updated_at = :now WHERE id = :id"
        ),
        {
            "id": subscription_id,
            "plan": state.plan_code,
            "interval": state.interval,
            "status": state.status,
            "anchor": state.anchor,
            "start": state.period_start,
            "end": state.period_end,
            "cancel": state.cancel_at_period_end,
            "next_plan": state.next_plan_code,
            "next_interval": state.next_interval,
            "upgrade_plan": pending_upgrade[0] if pending_upgrade else None,
            "upgrade_cents": pending_upgrade[1] if pending_upgrade else None,
            "now": now,
        },
    )
    if old is not None:
        organization_id, *before = old
        notify_change(connection, organization_id, subscription_id, Snapshot(*before), _snapshot(state))


def _snapshot(state: Subscription) -> Snapshot:
    return Snapshot(
        state.plan_code,
        state.interval,
        state.status,
        state.period_start,
        state.period_end,
        state.cancel_at_period_end,
    )
