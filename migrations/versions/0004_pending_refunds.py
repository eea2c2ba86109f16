"""Failure reports waiting for their debit, and a cheaper one-usage-per-event rule.

A failure report can arrive before the message-completed event it refunds: it waits in
`pending_refunds` (one per interaction) until the debit is written, which refunds it at once.

A usage row's idempotency key is derived from its event id (a CHECK now says so), so the key's
unique constraint already allows one usage debit per event; the partial unique index that said the
same only cost an index write per event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pending_refunds (
            original_event_id text PRIMARY KEY,
            failure_event_id text NOT NULL,
            organization_id text NOT NULL,
            reason text NOT NULL,
            source text NOT NULL DEFAULT 'failure',
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'refunded', 'rejected')),
            received_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            flagged_at timestamptz
        );
        CREATE INDEX pending_refunds_waiting ON pending_refunds (received_at) WHERE status = 'pending';
        ALTER TABLE credit_transactions ADD CONSTRAINT credit_transactions_usage_key_is_event
            CHECK (type <> 'usage' OR idempotency_key = 'usage:' || event_id);
        DROP INDEX credit_transactions_one_usage_per_event;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE UNIQUE INDEX credit_transactions_one_usage_per_event
            ON credit_transactions (event_id) WHERE type = 'usage';
        ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_usage_key_is_event;
        DROP TABLE pending_refunds;
        """
    )
