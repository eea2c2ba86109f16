"""Subscription schedule: the billing anchor, a downgrade waiting for the period end, an upgrade
waiting for its payment; monthly grants and upgrade grants told apart, each once per period.

- `subscriptions.billing_anchor`: months are counted from it (Jan 31 → Feb 28 → Mar 31).
- `next_plan_code`/`next_interval`: what the subscription becomes at the end of its period.
- `pending_upgrade_plan`/`pending_upgrade_cents`: an upgrade quoted and charged, not yet paid.
- `credit_grants.grant_kind`: `period` (the monthly allowance) or `upgrade:<plan>` (the difference
  granted when an upgrade is paid); unique per (subscription, period start, kind).
- At most one live (active, past due or paused) subscription per organization.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE subscriptions
    ADD COLUMN billing_anchor timestamptz,
    ADD COLUMN next_plan_code text REFERENCES plans(code),
    ADD COLUMN next_interval text CHECK (next_interval IN ('month', 'year')),
    ADD COLUMN pending_upgrade_plan text REFERENCES plans(code),
    ADD COLUMN pending_upgrade_cents bigint CHECK (pending_upgrade_cents >= 0),
    ADD CONSTRAINT subscriptions_next_change_complete
        CHECK ((next_plan_code IS NULL) = (next_interval IS NULL)),
    ADD CONSTRAINT subscriptions_pending_upgrade_complete
        CHECK ((pending_upgrade_plan IS NULL) = (pending_upgrade_cents IS NULL)),
    ADD CONSTRAINT subscriptions_period_order
        CHECK (current_period_end IS NULL OR current_period_end > current_period_start),
    ADD CONSTRAINT subscriptions_live_has_period
        CHECK (status NOT IN ('active', 'past_due')
               OR (current_period_start IS NOT NULL AND current_period_end IS NOT NULL));
CREATE UNIQUE INDEX subscriptions_one_live_per_organization ON subscriptions (organization_id)
    WHERE status IN ('active', 'past_due', 'paused');
CREATE INDEX subscriptions_sweep ON subscriptions (current_period_end)
    WHERE status IN ('active', 'past_due');

ALTER TABLE credit_grants
    ADD COLUMN grant_kind text NOT NULL DEFAULT 'period'
        CHECK (grant_kind = 'period' OR grant_kind LIKE 'upgrade:%'),
    DROP CONSTRAINT credit_grants_subscription_id_period_start_key,
    ADD CONSTRAINT credit_grants_subscription_has_period
        CHECK ((subscription_id IS NULL) = (period_start IS NULL));
CREATE UNIQUE INDEX credit_grants_once_per_period
    ON credit_grants (subscription_id, period_start, grant_kind) WHERE subscription_id IS NOT NULL;
"""

DOWNGRADE = """
DROP INDEX credit_grants_once_per_period;
ALTER TABLE credit_grants
    DROP CONSTRAINT credit_grants_subscription_has_period,
    DROP COLUMN grant_kind,
    ADD CONSTRAINT credit_grants_subscription_id_period_start_key UNIQUE (subscription_id, period_start);
DROP INDEX subscriptions_sweep;
DROP INDEX subscriptions_one_live_per_organization;
ALTER TABLE subscriptions
    DROP CONSTRAINT subscriptions_live_has_period,
    DROP CONSTRAINT subscriptions_period_order,
    DROP CONSTRAINT subscriptions_pending_upgrade_complete,
    DROP CONSTRAINT subscriptions_next_change_complete,
    DROP COLUMN pending_upgrade_cents,
    DROP COLUMN pending_upgrade_plan,
    DROP COLUMN next_interval,
    DROP COLUMN next_plan_code,
    DROP COLUMN billing_anchor;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
