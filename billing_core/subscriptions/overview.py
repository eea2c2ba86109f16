"""What an organization's subscription looks like now: plan, status, period, next grant, scheduled
change, pending upgrade, and the provider's ids (for calls to the provider)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import UnknownSubscription
from billing_core.queries.organizations import get_organization
from billing_core.subscriptions import state as machine
from billing_core.subscriptions import store
from billing_core.subscriptions.state import LIVE_SQL, SubscriptionStatus
from billing_core.subscriptions.store import StoredSubscription


@dataclass(frozen=True)
class SubscriptionOverview:
    organization_id: str
    subscription: StoredSubscription | None  # None: no live subscription (the free plan)
    provider_customer_id: str | None
    next_grant_at: datetime | None


def next_grant_at(sub: machine.Subscription, now: datetime) -> datetime | None:
    """When the next monthly grant is due: the next monthly anniversary inside the paid period
    (yearly plans), else the renewal at the period's end. None when no grant will come (past due,
    paused, canceled, or canceled at period end with no month left)."""
    if sub.status != SubscriptionStatus.ACTIVE:
        return None
    current = machine.grant_period_at(sub, now)
    if current is not None and current.end < sub.period_end:
        return current.end
    if sub.cancel_at_period_end:
        return None
    return sub.period_end if now < sub.period_end else None


_LIVE = text(
    "SELECT id, provider_customer_id FROM subscriptions WHERE organization_id = :org "  # noqa: S608
    f"AND status IN {LIVE_SQL}"
)


def subscription_overview(
    connection: Connection, organization_id: str, now: datetime
) -> SubscriptionOverview:
    """UnknownOrganization for an organization that does not exist; no row locks are taken."""
    get_organization(connection, organization_id)
    row = connection.execute(_LIVE, {"org": organization_id}).first()
    if row is None:
        return SubscriptionOverview(organization_id, None, None, None)
    sub = store.load(connection, row[0], lock=False)
    return SubscriptionOverview(organization_id, sub, row[1], next_grant_at(sub.state, now))


def live_overview(connection: Connection, organization_id: str, now: datetime) -> SubscriptionOverview:
    """The overview of a live subscription; UnknownSubscription when there is none."""
    overview = subscription_overview(connection, organization_id, now)
    if overview.subscription is None:
        raise UnknownSubscription(f"for organization {organization_id!r}")
    return overview
