"""Keeping budgets and holds with the debits, in the debits' transaction, set-based, once per group.

- A debit that names a hold settles it: the hold ends, its amount leaves the organization's
  `held` (the debit itself charges the actual cost, even above the hold) and every budget window
  it was counted in.
- Every debit adds its cost to the current window of each budget that covers its agent, user or
  API key; a window crossing one of its budget's alert thresholds (or its limit) notifies once.
- A refund gives the cost back to the windows the debit was counted in (by the debit's time).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.ledger.accounts import Account
from billing_core.money import micros_to_text
from billing_core.notifications.events import BUDGET_EXCEEDED, BUDGET_THRESHOLD
from billing_core.notifications.outbox import emit
from billing_core.spend.budgets import ALL_TIME, Budget, Windows, budgets_of

WindowKey = tuple[int, datetime]  # (budget id, window start)


def release_windows(connection: Connection, windows: Mapping[WindowKey, int]) -> None:
    """Take held amounts off budget windows (a hold ended)."""
    if not windows:
        return
    keys = sorted(windows)
    connection.execute(
        text(
            "UPDATE budget_windows w SET held = GREATEST(w.held - k.amount, 0) "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:starts AS timestamptz[]), CAST(:amounts AS bigint[])) "
            "AS k(id, start, amount) WHERE w.budget_id = k.id AND w.window_start = k.start"
        ),
        {"ids": [k[0] for k in keys], "starts": [k[1] for k in keys], "amounts": [windows[k] for k in keys]},
    )


def hold_windows(raw: Any) -> dict[WindowKey, int]:
    """The windows a hold was counted in, from its stored JSON [[budget id, start, amount], ...]."""
    items = raw if isinstance(raw, list) else json.loads(raw or "[]")
    return {(int(b), datetime.fromisoformat(s)): int(a) for b, s, a in items}


def settle_holds(
    connection: Connection,
    accounts: Mapping[str, Account],
    settled: Mapping[int, tuple[str, str, int]],
    now: datetime,
) -> None:
    """End the active holds named by debits: {hold id: (organization, event id, cost)}."""
    if not settled:
        return
    ids = sorted(settled)
    rows = connection.execute(
        text(
            "UPDATE credit_holds h SET status = 'settled', ended_at = :now, settled_event_id = k.event, "
            "settled_amount = k.cost FROM unnest(CAST(:ids AS bigint[]), CAST(:orgs AS text[]), "
            "CAST(:events AS text[]), CAST(:costs AS bigint[])) AS k(id, org, event, cost) "
            "WHERE h.id = k.id AND h.organization_id = k.org AND h.status = 'active' "
            "RETURNING h.organization_id, h.amount, h.budget_windows"
        ),
        {
            "now": now,
            "ids": ids,
            "orgs": [settled[i][0] for i in ids],
            "events": [settled[i][1] for i in ids],
            "costs": [settled[i][2] for i in ids],
        },
    ).all()
    windows: dict[WindowKey, int] = defaultdict(int)
    for org, amount, stored in rows:
        accounts[org].held -= amount
        for key, held in hold_windows(stored).items():
            windows[key] += held
    release_windows(connection, windows)


# One statement for a group of debits: their costs summed per (organization, agent, user, key) are
# matched to the budgets covering them, added to each budget's current window, and the windows whose
# spend reached a new alert mark come back (with what the notification says).
_CHARGE = text(
    "WITH debit(org, agent, usr, akey, cost) AS (SELECT * FROM unnest(CAST(:orgs AS text[]), "
    "CAST(:agents AS text[]), CAST(:users AS text[]), CAST(:keys AS text[]), CAST(:costs AS bigint[]))), "
    "month(org, start) AS (SELECT * FROM unnest(CAST(:month_orgs AS text[]), "
    "CAST(:month_starts AS timestamptz[]))), "
    "added AS (SELECT b.id, CASE b.period WHEN 'total' THEN CAST(:all_time AS timestamptz) "
    "WHEN 'day' THEN CAST(:day AS timestamptz) ELSE m.start END AS start, SUM(d.cost) AS cost "
    "FROM debit d JOIN budgets b ON b.organization_id = d.org AND (b.scope = 'organization' "
    "OR (b.scope = 'agent' AND b.scope_id = d.agent) OR (b.scope = 'user' AND b.scope_id = d.usr) "
    "OR (b.scope = 'api_key' AND b.scope_id = d.akey)) LEFT JOIN month m ON m.org = d.org "
    "GROUP BY 1, 2), "
    "up AS (INSERT INTO budget_windows (budget_id, window_start, spent) SELECT id, start, cost FROM added "
    "WHERE start IS NOT NULL ON CONFLICT (budget_id, window_start) DO UPDATE "
    "SET spent = budget_windows.spent + EXCLUDED.spent RETURNING budget_id, window_start, spent, "
    "alert_level) "
    "SELECT up.budget_id, up.window_start, up.spent, up.alert_level FROM up JOIN budgets b ON b.id = "
    "up.budget_id "
    "WHERE :notify AND (SELECT count(*) FROM unnest(b.alert_thresholds || 100) p(pct) "
    "WHERE up.spent * 100 >= b.limit_micros * p.pct) > up.alert_level"
)
_MONTHLY = text(
    "SELECT DISTINCT organization_id FROM budgets WHERE period = 'month' AND organization_id = ANY(:orgs)"
)


def charge_budgets(
    connection: Connection,
    debits: Iterable[tuple[str, str, str | None, str | None, int]],
    now: datetime,
    *,
    sign: int = 1,
) -> None:
    """Add (sign=1) or give back (sign=-1) costs to the current windows of the budgets covering each
    debit: (organization, agent, user, api key, cost). Set-based: one statement (and one query for
    the organizations with monthly budgets, whose window is their current period)."""
    summed: dict[tuple[str, str, str | None, str | None], int] = defaultdict(int)
    for org, agent, user, api_key, cost in debits:
        summed[(org, agent, user, api_key)] += sign * cost
    if not summed:
        return
    orgs = sorted({k[0] for k in summed})
    monthly = [org for (org,) in connection.execute(_MONTHLY, {"orgs": orgs})]
    month_starts = [Windows(connection, org, now).of("month").start for org in monthly]
    keys = list(summed)
    crossed = connection.execute(
        _CHARGE,
        {
            "orgs": [k[0] for k in keys],
            "agents": [k[1] for k in keys],
            "users": [k[2] for k in keys],
            "keys": [k[3] for k in keys],
            "costs": [summed[k] for k in keys],
            "month_orgs": monthly,
            "month_starts": month_starts,
            "all_time": ALL_TIME,
            "day": Windows(connection, orgs[0], now).of("day").start,
            "notify": sign > 0,
        },
    ).all()
    if crossed:
        budgets = {b.id: b for org_budgets in budgets_of(connection, orgs).values() for b in org_budgets}
        _alerts(connection, budgets, crossed, now)


def _level(spent: int, budget: Budget) -> int:
    """How many of the budget's marks (its thresholds, then the limit itself) `spent` has reached."""
    marks = [*sorted(budget.alert_thresholds), 100]
    return sum(1 for pct in marks if spent * 100 >= budget.limit_micros * pct)


def _alerts(
    connection: Connection, budgets: Mapping[int, Budget], rows: Sequence[Any], now: datetime
) -> None:
    """Each mark a window reached in this group: budget.threshold, or budget.exceeded at the limit."""
    moved: list[tuple[int, datetime, int]] = []
    for budget_id, start, spent, level in rows:
        budget = budgets[budget_id]
        new = _level(spent, budget)
        if new <= level:
            continue
        marks = [*sorted(budget.alert_thresholds), 100]
        for pct in marks[level:new]:
            kind = BUDGET_EXCEEDED if pct == 100 else BUDGET_THRESHOLD
            data = {
                "budget_id": budget.id,
                "scope": budget.scope,
                "scope_id": budget.scope_id,
                "period": budget.period,
                "window_start": start,
                "limit": micros_to_text(budget.limit_micros),
                "spent": micros_to_text(spent),
                "threshold_percent": pct,
            }
            emit(connection, kind, budget.organization_id, data, f"{budget.id}:{start.isoformat()}:{pct}")
        moved.append((budget_id, start, new))
    if moved:
        connection.execute(
            text(
                "UPDATE budget_windows w SET alert_level = k.level FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:starts AS timestamptz[]), CAST(:levels AS integer[])) AS k(id, start, level) "
                "WHERE w.budget_id = k.id AND w.window_start = k.start"
            ),
            {"ids": [m[0] for m in moved], "starts": [m[1] for m in moved], "levels": [m[2] for m in moved]},
        )
