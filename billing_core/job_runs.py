"""When the periodic jobs last finished: the scheduler's sweep, and `billing reconcile` with the
number of violations it found. `billing status` and the backlog gauges read them
(billing_core/queries/backlogs.py)."""

from __future__ import annotations

from sqlalchemy import Connection, text

SWEEP = "sweep"
RECONCILE = "reconcile"


def record_run(connection: Connection, job: str, problems: int = 0) -> None:
    """Stamp the job finished now (the wall clock, whatever time it acted as of)."""
    connection.execute(
        text(
            "INSERT INTO job_runs (job, finished_at, problems) VALUES (:job, clock_timestamp(), :problems) "
            "ON CONFLICT (job) DO UPDATE SET finished_at = EXCLUDED.finished_at, problems = EXCLUDED.problems"
        ),
        {"job": job, "problems": problems},
    )
