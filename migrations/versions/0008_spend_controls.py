"""Spend controls: budgets per organization, agent, user or API key, and credit holds for agent turns.

- `budgets`: a limit on what one scope spends per day (UTC), per month (the organization's current
  period) or in total; hard (checks answer 402) or soft (notifications only); alert thresholds.
- `budget_windows`: what each budget's scope spent and holds in one window (a day, a period, or
  all time), kept incrementally in the debits' own transaction; the alert level of the window.
- `credit_holds`: credits reserved for an agent turn until a debit settles the hold, it is
  released, or it expires. `balances.held` is the sum of the organization's active holds, kept
  under the balance row's lock, so available = balance − held is read in one row.
- `credit_transactions.hold_id`: the hold a debit settled.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE balances ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE credit_transactions ADD COLUMN hold_id bigint;

CREATE TABLE budgets (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    scope text NOT NULL CHECK (scope IN ('organization', 'agent', 'user', 'api_key')),
    scope_id text NOT NULL DEFAULT '' CHECK ((scope = 'organization') = (scope_id = '')),
    period text NOT NULL CHECK (period IN ('day', 'month', 'total')),
    limit_micros bigint NOT NULL CHECK (limit_micros > 0),
    hard boolean NOT NULL DEFAULT true,
    alert_thresholds integer[] NOT NULL DEFAULT '{80}'
        CHECK (0 < ALL (alert_thresholds) AND 100 > ALL (alert_thresholds)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, scope, scope_id, period)
);

CREATE TABLE budget_windows (
    budget_id bigint NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    spent bigint NOT NULL DEFAULT 0,
    held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    alert_level integer NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, window_start)
);

CREATE TABLE credit_holds (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    amount bigint NOT NULL CHECK (amount > 0),
    agent_id text,
    user_id text,
    api_key text,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'settled', 'released', 'expired')),
    idempotency_key text NOT NULL,
    payload_hash text NOT NULL,
    budget_windows jsonb NOT NULL DEFAULT '[]',
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    settled_event_id text,
    settled_amount bigint,
    UNIQUE (organization_id, idempotency_key)
);
CREATE INDEX credit_holds_expiring ON credit_holds (expires_at) WHERE status = 'active';
"""

DOWNGRADE = """
DROP TABLE credit_holds;
DROP TABLE budget_windows;
DROP TABLE budgets;
ALTER TABLE credit_transactions DROP COLUMN hold_id;
ALTER TABLE balances DROP COLUMN held;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
