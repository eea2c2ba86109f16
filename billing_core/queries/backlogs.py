"""What waits in the database for a person or a process: the figures of `billing status` and of
the backlog gauges. Each is one cheap statement (an index, or the one-row-per-organization
balances table); callers read them at most once per scrape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Backlogs:
    rejected_pending: dict[str, int] = field(default_factory=dict)  # by reason
    inbox_unfinished: dict[str, int] = field(default_factory=dict)  # by status: pending, failed
    inbox_oldest_unfinished: datetime | None = None
    refunds_pending: int = 0  # failure reports waiting for their debit
    refunds_oldest_pending: datetime | None = None
    organizations_in_overdraft: int = 0
    last_sweep: datetime | None = None  # when the scheduler's last sweep committed
    last_reconcile: datetime | None = None  # when `billing reconcile` last ran
    reconcile_violations: int = 0  # what it found then


_RUNS = text("SELECT job, finished_at, problems FROM job_runs")


def read_backlogs(connection: Connection) -> Backlogs:
    rejected = connection.execute(
        text("SELECT reason, count(*) FROM rejected_events WHERE status = 'pending' GROUP BY reason")
    ).all()
    inbox = connection.execute(
        text(
            "SELECT status, count(*), min(received_at) FROM webhook_inbox "
            "WHERE status IN ('pending', 'failed') GROUP BY status"
        )
    ).all()
    refunds, oldest_refund = connection.execute(
        text("SELECT count(*), min(received_at) FROM pending_refunds WHERE status = 'pending'")
    ).one()
    overdraft = connection.execute(text("SELECT count(*) FROM balances WHERE overdraft > 0")).scalar_one()
    runs = {job: (at, problems) for job, at, problems in connection.execute(_RUNS)}
    sweep, reconciled = runs.get("sweep", (None, 0)), runs.get("reconcile", (None, 0))
    return Backlogs(
        rejected_pending={reason: int(n) for reason, n in rejected},
        inbox_unfinished={status: int(n) for status, n, _ in inbox},
        inbox_oldest_unfinished=min((oldest for _, _, oldest in inbox), default=None),
        refunds_pending=int(refunds),
        refunds_oldest_pending=oldest_refund,
        organizations_in_overdraft=int(overdraft),
        last_sweep=sweep[0],
        last_reconcile=reconciled[0],
        reconcile_violations=int(reconciled[1]),
    )


@dataclass(frozen=True)
class RecentLag:
    rows: int
    newest_charge: datetime | None  # when the newest usage debit was written
    median_seconds: float | None  # occurred_at to written, over the newest rows
    max_seconds: float | None


def recent_usage_lag(connection: Connection, rows: int = 1000) -> RecentLag:
    """From occurred_at to the debit's row, over the newest `rows` usage rows (by id: the primary
    key's index, read backwards)."""
    count, newest, median, longest = connection.execute(
        text(
            "SELECT count(*), max(created_at), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), max(lag) FROM ("
            "SELECT created_at, EXTRACT(EPOCH FROM created_at - occurred_at) AS lag "
            "FROM credit_transactions WHERE type = 'usage' ORDER BY id DESC LIMIT :rows) newest"
        ),
        {"rows": rows},
    ).one()
    return RecentLag(
        int(count),
        newest,
        None if median is None else float(median),
        None if longest is None else float(longest),
    )
