"""API keys (stored hashed, shown once), the four plans every organization can be on, and an index
for the balance view's "allocated / used this period" sums (an index-only range scan per
organization instead of reading every row of its history).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE api_keys (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    prefix text NOT NULL CHECK (length(prefix) BETWEEN 1 AND 64),
    key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

CREATE INDEX credit_transactions_period ON credit_transactions (organization_id, created_at)
    INCLUDE (type, amount);

INSERT INTO plans (code, name, credits_per_month, max_organizations, max_agents_per_organization,
                   api_access, support_level, monthly_price_cents)
VALUES
    ('free', 'Free', 0, 1, 1, 'basic', 'standard', 0),
    ('starter', 'Starter', 500000000, 1, 3, 'basic', 'standard', 1000),
    ('pro', 'Pro', 1000000000, 3, 10, 'full', 'standard', 2000),
    ('business', 'Business', 5000000000, 10, 50, 'enterprise', 'priority', 9900)
ON CONFLICT (code) DO NOTHING;
"""

DOWNGRADE = """
DROP INDEX credit_transactions_period;
DROP TABLE api_keys;
DELETE FROM plans p WHERE p.code IN ('free', 'starter', 'pro', 'business')
    AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.plan_code = p.code);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
