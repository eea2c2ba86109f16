"""Budgets: a limit on what one scope of an organization spends in a window.

Scope `organization` (a cap below the balance), `agent`, `user` or `api_key` (the key's public
prefix, named in events and checks). Window `day` (UTC), `month` (the organization's current
period, ledger/periods.py) or `total`. A hard budget makes checks and holds answer 402 once
spent + held reaches the limit; a soft one only notifies. Spent and held amounts are kept per
window in `budget_windows`, updated in the debits' transaction (budgets/accounting.py), never
computed from the ledger at check time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownBudget
from billing_core.ledger.periods import current_period
from billing_core.queries.organizations import require_organization

SCOPES = ("organization", "agent", "user", "api_key")
PERIODS = ("day", "month", "total")
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = "id, organization_id, scope, scope_id, period, limit_micros, hard, alert_thresholds"


@dataclass(frozen=True)
class Budget:
    id: int
    organization_id: str
    scope: str
    scope_id: str  # '' for the organization scope
    period: str
    limit_micros: int
    hard: bool
    alert_thresholds: list[int]

    def covers(self, agent_id: str | None, user_id: str | None, api_key: str | None) -> bool:
        """Whether usage by this agent, user and key counts against the budget."""
        subject = {"organization": "", "agent": agent_id, "user": user_id, "api_key": api_key}[self.scope]
        return subject == self.scope_id


@dataclass(frozen=True)
class Window:
    start: datetime
    resets_at: datetime | None  # None: a total budget never resets


@dataclass(frozen=True)
class BudgetStatus:
    """A budget with its current window: what was spent and is held in it."""

    budget: Budget
    window: Window
    spent: int
    held: int

    @property
    def available(self) -> int:
        return self.budget.limit_micros - self.spent - self.held


class Windows:
    """The current window of each period for one organization at one time (the month needs the
    organization's current period: looked up once, and only when a month budget asks for it)."""

    def __init__(self, connection: Connection, organization_id: str, at: datetime) -> None:
        self._connection, self._org, self._at = connection, organization_id, at
        self._month: Window | None = None

    def of(self, period: str) -> Window:
        if period == "total":
            return Window(ALL_TIME, None)
        if period == "day":
            day = self._at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return Window(day, day + timedelta(days=1))
        if self._month is None:
            start, end = current_period(self._connection, self._org, self._at)
            self._month = Window(start, end)
        return self._month


def _validate(scope: str, scope_id: str, period: str, limit: int, thresholds: Sequence[int]) -> None:
    if scope not in SCOPES:
        raise InvalidInput("scope", f"must be one of {', '.join(SCOPES)}")
    if (scope == "organization") != (scope_id == ""):
        raise InvalidInput("scope_id", "names the agent, user or API key prefix (none for the organization)")
    if len(scope_id) > 200 or "\x00" in scope_id:
        raise InvalidInput("scope_id", "at most 200 characters")
    if period not in PERIODS:
        raise InvalidInput("period", f"must be one of {', '.join(PERIODS)}")
    if limit <= 0:
        raise InvalidInput("limit", "must be positive")
    if len(thresholds) > 5 or any(not 0 < t < 100 for t in thresholds):
        raise InvalidInput("alert_thresholds", "at most five whole percentages between 1 and 99")


def set_budget(
    connection: Connection,
    organization_id: str,
    *,
    scope: str,
    scope_id: str,
    period: str,
    limit_micros: int,
    hard: bool,
    alert_thresholds: Sequence[int],
    now: datetime,
) -> Budget:
    """Create the scope's budget for the period, or change its limit, kind and thresholds."""
    _validate(scope, scope_id, period, limit_micros, alert_thresholds)
    require_organization(connection, organization_id)
    row = connection.execute(
        text(
            "INSERT INTO budgets (organization_id, scope, scope_id, period, limit_micros, hard, "  # noqa: S608
            "alert_thresholds, created_at, updated_at) VALUES (:org, :scope, :sid, :period, :limit, :hard, "
            ":thresholds, :now, :now) ON CONFLICT (organization_id, scope, scope_id, period) DO UPDATE SET "
            "limit_micros = EXCLUDED.limit_micros, hard = EXCLUDED.hard, "
            f"alert_thresholds = EXCLUDED.alert_thresholds, updated_at = :now RETURNING {_COLUMNS}"
        ),
        {
            "org": organization_id,
            "scope": scope,
            "sid": scope_id,
            "period": period,
            "limit": limit_micros,
            "hard": hard,
            "thresholds": sorted(set(alert_thresholds), reverse=True),
            "now": now,
        },
    ).one()
    return Budget(*row)


def budgets_of(connection: Connection, organization_ids: Sequence[str]) -> dict[str, list[Budget]]:
    """Every budget of these organizations (one query, whatever their number)."""
    result: dict[str, list[Budget]] = {}
    if not organization_ids:
        return result
    rows = connection.execute(
        text(f"SELECT {_COLUMNS} FROM budgets WHERE organization_id = ANY(:orgs) ORDER BY id"),  # noqa: S608
        {"orgs": list(organization_ids)},
    )
    for row in rows:
        result.setdefault(row.organization_id, []).append(Budget(*row))
    return result


def statuses(
    connection: Connection, organization_id: str, budgets: Sequence[Budget], at: datetime
) -> list[BudgetStatus]:
    """Each budget with what its current window spent and holds (no lock)."""
    windows = Windows(connection, organization_id, at)
    current = {b.id: windows.of(b.period) for b in budgets}
    if not budgets:
        return []
    rows = connection.execute(
        text(
            "SELECT w.budget_id, w.spent, w.held FROM budget_windows w "
            "JOIN unnest(CAST(:ids AS bigint[]), CAST(:starts AS timestamptz[])) AS k(id, start) "
            "ON w.budget_id = k.id AND w.window_start = k.start"
        ),
        {"ids": [b.id for b in budgets], "starts": [current[b.id].start for b in budgets]},
    )
    found = {budget_id: (spent, held) for budget_id, spent, held in rows}
    return [BudgetStatus(b, current[b.id], *found.get(b.id, (0, 0))) for b in budgets]


def list_budgets(connection: Connection, organization_id: str, at: datetime) -> list[BudgetStatus]:
    require_organization(connection, organization_id)
    return statuses(
        connection, organization_id, budgets_of(connection, [organization_id]).get(organization_id, []), at
    )


def delete_budget(connection: Connection, organization_id: str, budget_id: int) -> None:
    found = connection.execute(
        text("DELETE FROM budgets WHERE id = :id AND organization_id = :org RETURNING id"),
        {"id": budget_id, "org": organization_id},
    ).first()
    if found is None:
        raise UnknownBudget(budget_id)
