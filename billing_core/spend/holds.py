"""Credit holds: credits reserved for an agent turn, so that concurrent turns cannot all pass a check
that only one of them fits. A hold is created under the organization's balance row lock (every
hold and debit of an organization takes it), so 50 concurrent requests against a balance that
covers 10 get exactly 10 holds. Available = balance − active holds, and for each budget covering
the turn: limit − spent − held. A hold ends when the debit naming it settles it, when it is
released, or when it expires (the sweeper).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import (
    BudgetExceeded,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    UnknownHold,
)
from billing_core.ledger.accounts import lock_account, lock_accounts, save_accounts
from billing_core.ledger.journal import payload_hash
from billing_core.spend.accounting import hold_windows, release_windows
from billing_core.spend.budgets import BudgetStatus, budgets_of, statuses

MAX_TTL = timedelta(hours=24)
_COLUMNS = (
    "id, organization_id, amount, agent_id, user_id, api_key, status, expires_at, created_at, ended_at, "
    "settled_event_id, settled_amount"
)


@dataclass(frozen=True)
class Hold:
    id: int
    organization_id: str
    amount: int
    agent_id: str | None
    user_id: str | None
    api_key: str | None
    status: str
    expires_at: datetime
    created_at: datetime
    ended_at: datetime | None
    settled_event_id: str | None
    settled_amount: int | None


@dataclass(frozen=True)
class HoldRequest:
    organization_id: str
    amount: int
    idempotency_key: str
    ttl: timedelta
    agent_id: str | None = None
    user_id: str | None = None
    api_key: str | None = None

    def digest(self) -> str:
        return payload_hash(
            {
                "amount": self.amount,
                "agent": self.agent_id,
                "user": self.user_id,
                "key": self.api_key,
                "ttl": self.ttl.total_seconds(),
            }
        )


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    created: bool


def _get(connection: Connection, organization_id: str, hold_id: int, *, lock: bool = False) -> Hold | None:
    row = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM credit_holds WHERE id = :id AND organization_id = :org"  # noqa: S608
            + (" FOR UPDATE" if lock else "")
        ),
        {"id": hold_id, "org": organization_id},
    ).first()
    return None if row is None else Hold(*row)


def get_hold(connection: Connection, organization_id: str, hold_id: int) -> Hold:
    hold = _get(connection, organization_id, hold_id)
    if hold is None:
        raise UnknownHold(hold_id)
    return hold


def covering(
    connection: Connection, request: HoldRequest, at: datetime, *, hard_only: bool
) -> list[BudgetStatus]:
    budgets = [
        b
        for b in budgets_of(connection, [request.organization_id]).get(request.organization_id, [])
        if b.covers(request.agent_id, request.user_id, request.api_key) and (b.hard or not hard_only)
    ]
    return statuses(connection, request.organization_id, budgets, at)


def create_hold(connection: Connection, request: HoldRequest, now: datetime) -> HoldResult:
    """Reserve credits once per idempotency key; InsufficientCredits or BudgetExceeded otherwise."""
    if request.amount <= 0:
        raise InvalidInput("credits", "a hold must be positive")
    if not timedelta(seconds=1) <= request.ttl <= MAX_TTL:
        raise InvalidInput("ttl_seconds", f"between 1 and {int(MAX_TTL.total_seconds())} seconds")
    account = lock_account(connection, request.organization_id)
    earlier = connection.execute(
        text(
            "SELECT id, payload_hash FROM credit_holds WHERE organization_id = :org AND "
            "idempotency_key = :key"
        ),
        {"org": request.organization_id, "key": request.idempotency_key},
    ).first()
    if earlier is not None:
        if earlier.payload_hash != request.digest():
            raise IdempotencyConflict(request.idempotency_key)
        return HoldResult(get_hold(connection, request.organization_id, earlier.id), False)
    available = account.balance - account.held
    if available <= 0 or available < request.amount:
        raise InsufficientCredits(available, request.amount)
    budgets = covering(connection, request, now, hard_only=False)
    for status in budgets:
        if status.budget.hard and status.available < request.amount:
            raise BudgetExceeded(status)
    windows = [[s.budget.id, s.window.start.isoformat(), request.amount] for s in budgets]
    row = connection.execute(
        text(
            "INSERT INTO credit_holds (organization_id, amount, agent_id, user_id, api_key, idempotency_key, "  # noqa: S608
            "payload_hash, budget_windows, expires_at, created_at) VALUES (:org, :amount, :agent, "
            ":user, :key, "
            f":ikey, :digest, CAST(:windows AS jsonb), :expires, :now) RETURNING {_COLUMNS}"
        ),
        {
            "org": request.organization_id,
            "amount": request.amount,
            "agent": request.agent_id,
            "user": request.user_id,
            "key": request.api_key,
            "ikey": request.idempotency_key,
            "digest": request.digest(),
            "windows": json.dumps(windows),
            "expires": now + request.ttl,
            "now": now,
        },
    ).one()
    if budgets:
        connection.execute(
            text(
                "INSERT INTO budget_windows (budget_id, window_start, held) SELECT * FROM "
                "unnest(CAST(:ids AS bigint[]), CAST(:starts AS timestamptz[]), CAST(:amounts AS bigint[])) "
                "ON CONFLICT (budget_id, window_start) DO UPDATE SET held = budget_windows.held + "
                "EXCLUDED.held"
            ),
            {
                "ids": [s.budget.id for s in budgets],
                "starts": [s.window.start for s in budgets],
                "amounts": [request.amount] * len(budgets),
            },
        )
    account.held += request.amount
    save_accounts(connection, [account], now)
    return HoldResult(Hold(*row), True)


def end_hold(
    connection: Connection, organization_id: str, hold_id: int, now: datetime, *, status: str = "released"
) -> Hold:
    """Release (or expire) an active hold; a hold already ended is returned as it is."""
    account = lock_account(connection, organization_id)
    hold = _get(connection, organization_id, hold_id, lock=True)
    if hold is None:
        raise UnknownHold(hold_id)
    if hold.status != "active":
        return hold
    stored = connection.execute(
        text(
            "UPDATE credit_holds SET status = :status, ended_at = :now WHERE id = :id RETURNING "
            "budget_windows"
        ),
        {"status": status, "now": now, "id": hold_id},
    ).scalar_one()
    release_windows(connection, hold_windows(stored))
    account.held -= hold.amount
    save_accounts(connection, [account], now)
    return get_hold(connection, organization_id, hold_id)


def expire_holds(connection: Connection, now: datetime, *, limit: int = 500) -> int:
    """Release every hold past its expiry (each once: status `expired`)."""
    due = connection.execute(
        text(
            "SELECT organization_id, id FROM credit_holds WHERE status = 'active' AND expires_at <= :now "
            "ORDER BY organization_id, id LIMIT :limit"
        ),
        {"now": now, "limit": limit},
    ).all()
    lock_accounts(connection, {org for org, _ in due})  # the balance rows first: the global lock order
    ended = 0
    for org, hold_id in due:
        if end_hold(connection, org, hold_id, now, status="expired").status == "expired":
            ended += 1
    return ended
