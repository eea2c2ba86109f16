"""Count crash redeliveries of queue messages, to park a message that keeps killing its worker.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE message_deliveries (
            message_id text PRIMARY KEY,
            queue_name text NOT NULL,
            redeliveries integer NOT NULL,
            last_seen timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE message_deliveries")
