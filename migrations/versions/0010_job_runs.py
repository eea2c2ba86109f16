"""When the periodic jobs last finished (the scheduler's sweep, `billing reconcile` and how many
violations it found), for `billing status` and the backlog gauges; the webhook inbox's unfinished
rows found by an index (the gauges read them at every scrape).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE job_runs (
            job text PRIMARY KEY CHECK (job IN ('sweep', 'reconcile')),
            finished_at timestamptz NOT NULL,
            problems integer NOT NULL DEFAULT 0 CHECK (problems >= 0)
        );
        CREATE INDEX webhook_inbox_unfinished ON webhook_inbox (received_at)
            WHERE status IN ('pending', 'failed');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX webhook_inbox_unfinished;
        DROP TABLE job_runs;
        """
    )
