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
from billing_core.spend.budgets import Budget, Windows, budgets_of

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


def charge_budgets(
    connection: Connection,
    debits: Iterable[tuple[str, str, str | None, str | None, int]],
    now: datetime,
    *,
    sign: int = 1,
) -> None:
    """Add (sign=1) or give back (sign=-1) costs to the budget windows covering each debit:
    (organization, agent, user, api key, cost). Nothing to do without a budget: one query."""
    rows = list(debits)
    budgets = budgets_of(connection, sorted({r[0] for r in rows}))
    if not budgets:
        return
    windows = {org: Windows(connection, org, now) for org in budgets}
    # Per organization, scope and subject: the budgets covering it (a few dict lookups per debit).
    index: dict[tuple[str, str, str], list[Budget]] = defaultdict(list)
    for org, org_budgets in budgets.items():
        for budget in org_budgets:
            index[(org, budget.scope, budget.scope_id)].append(budget)
    spent: dict[tuple[str, str, str | None, str | None], int] = defaultdict(int)
    for org, agent, user, api_key, cost in rows:
        if org in budgets:
            spent[(org, agent, user, api_key)] += sign * cost
    added: dict[WindowKey, int] = defaultdict(int)
    by_id: dict[int, Budget] = {}
    for (org, agent, user, api_key), cost in spent.items():
        for subject in (("organization", ""), ("agent", agent), ("user", user), ("api_key", api_key)):
            if subject[1] is None:
                continue
            for budget in index.get((org, subject[0], subject[1]), ()):
                by_id[budget.id] = budget
                added[(budget.id, windows[org].of(budget.period).start)] += cost
    if not added:
        return
    keys = sorted(added)
    result = connection.execute(
        text(
            "INSERT INTO budget_windows (budget_id, window_start, spent) "
            "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:starts AS timestamptz[]), "
            "CAST(:amounts AS bigint[])) "
            "ON CONFLICT (budget_id, window_start) DO UPDATE SET spent = budget_windows.spent + "
            "EXCLUDED.spent "
            "RETURNING budget_id, window_start, spent, alert_level"
        ),
        {"ids": [k[0] for k in keys], "starts": [k[1] for k in keys], "amounts": [added[k] for k in keys]},
    ).all()
    if sign > 0:
        _alerts(connection, by_id, result, now)


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
