"""The sweeper: what is due at `now` — grants of active subscriptions (monthly anniversaries,
including a yearly subscription's months between payments), expirations, and the end of
subscriptions canceled at period end. Running it twice, or in two schedulers at once, grants once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.job_runs import SWEEP, record_run
from billing_core.ledger.expiry import expire_due_grants
from billing_core.plans.catalog import get_plan_config
from billing_core.subscriptions import state as machine
from billing_core.subscriptions import store
from billing_core.subscriptions.grants import PERIOD, already_granted
from billing_core.subscriptions.service import grant_due
from billing_core.subscriptions.state import IN_FORCE_SQL


@dataclass(frozen=True)
class DueGrant:
    subscription_id: int
    period_start: datetime


@dataclass
class SweepResult:
    expired: int = 0
    ended: int = 0
    granted: int = 0
    due: list[DueGrant] = field(default_factory=list)  # found but left to the grant actor


# A subscription with a grant that started in the last 28 days (the shortest month) may not be due;
# one without is a candidate, and the state machine decides. Locked rows are another sweep's.
_CANDIDATES = text(
    "SELECT s.id FROM subscriptions s WHERE s.status = 'active' AND s.current_period_start <= :now "
    "AND s.current_period_end > :now AND NOT EXISTS (SELECT 1 FROM credit_grants g "
    "WHERE g.subscription_id = s.id AND g.grant_kind = 'period' AND g.period_start <= :now "
    "AND g.period_start > :now - interval '28 days') ORDER BY s.id LIMIT :limit"
)
_ENDING = text(
    f"SELECT id FROM subscriptions WHERE status IN {IN_FORCE_SQL} AND cancel_at_period_end "  # noqa: S608
    "AND current_period_end <= :now ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)


def find_due_grants(connection: Connection, now: datetime, *, limit: int = 500) -> list[DueGrant]:
    due: list[DueGrant] = []
    for (subscription_id,) in connection.execute(_CANDIDATES, {"now": now, "limit": limit}).all():
        sub = store.load(connection, subscription_id, lock=False)
        rollover = get_plan_config(connection, sub.state.plan_code).rollover
        for period in machine.due_grant_periods(sub.state, now, rollover=rollover):
            if not already_granted(connection, sub.id, period.start, PERIOD):
                due.append(DueGrant(sub.id, period.start))
    return due


def grant_due_credits(
    connection: Connection, subscription_id: int, period_start: datetime, now: datetime
) -> bool:
    """Grant the month starting at `period_start` if it is (still) due; what the grant actor runs."""
    sub = store.load(connection, subscription_id)
    rollover = get_plan_config(connection, sub.state.plan_code).rollover
    for period in machine.due_grant_periods(sub.state, now, rollover=rollover):
        if period.start == period_start:
            return grant_due(connection, sub, period, now)
    return False


def end_canceled(connection: Connection, now: datetime, *, limit: int = 500) -> int:
    ended = 0
    for (subscription_id,) in connection.execute(_ENDING, {"now": now, "limit": limit}).all():
        sub = store.load(connection, subscription_id)
        store.save(connection, sub.id, machine.end_period(sub.state, now), now)
        ended += 1
    return ended


def sweep(
    connection: Connection, now: datetime, *, apply_grants: bool = True, limit: int = 500
) -> SweepResult:
    """End canceled subscriptions, grant what is due — or, with `apply_grants=False`, return the due
    grants for the caller to send to the grants queue after its commit — and expire what is due.
    Subscription rows are locked before balance rows (as every service does), so it cannot deadlock."""
    result = SweepResult(ended=end_canceled(connection, now))
    due = find_due_grants(connection, now, limit=limit)
    if apply_grants:
        for item in due:
            result.granted += grant_due_credits(connection, item.subscription_id, item.period_start, now)
    else:
        result.due = due
    result.expired = expire_due_grants(connection, now)
    record_run(connection, SWEEP)
    return result
