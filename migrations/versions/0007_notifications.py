"""Notifications: outbound webhook endpoints, an outbox of events written in the transaction of the
change that causes them, one delivery per (event, endpoint) and a log of every attempt; and the
low-balance alert state kept on the balance row, so that a debit group detects a crossing from the
balance before and after it (no extra query per event).

- `notification_endpoints`: per organization, or platform-wide (organization_id NULL, receives
  every organization's events); `event_types` NULL means all; a signing secret (whsec_...).
- `notification_events`: the outbox; `idempotency_key` unique, so a cause emits once.
- `notification_deliveries`: one per (event, endpoint), with its retry schedule.
- `notification_attempts`: every attempt's status, latency and error.
- `balances.low_balance_thresholds` (percent of the period's allocation, default 20 and 5),
  `low_balance_base` (the allocation the thresholds are taken of, set when credits are granted),
  `low_balance_level` (how many thresholds are crossed now; -1 exhausted): a threshold fires once
  per crossing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE notification_endpoints (
    id bigserial PRIMARY KEY,
    organization_id text REFERENCES organizations(id),
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    event_types text[],
    secret text NOT NULL,
    description text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason text,
    failing_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_endpoints_organization ON notification_endpoints (organization_id)
    WHERE status = 'enabled';

CREATE TABLE notification_events (
    id bigserial PRIMARY KEY,
    event_type text NOT NULL,
    organization_id text,
    payload jsonb NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_deliveries (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES notification_events(id),
    endpoint_id bigint NOT NULL REFERENCES notification_endpoints(id),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE notification_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES notification_deliveries(id),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    latency_ms integer NOT NULL,
    error text,
    response_excerpt text
);
CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id);

ALTER TABLE balances
    ADD COLUMN low_balance_thresholds integer[] NOT NULL DEFAULT '{20,5}'
        CHECK (0 < ALL (low_balance_thresholds) AND 100 > ALL (low_balance_thresholds)),
    ADD COLUMN low_balance_base bigint NOT NULL DEFAULT 0 CHECK (low_balance_base >= 0),
    ADD COLUMN low_balance_level integer NOT NULL DEFAULT 0;
"""

DOWNGRADE = """
ALTER TABLE balances DROP COLUMN low_balance_level, DROP COLUMN low_balance_base,
    DROP COLUMN low_balance_thresholds;
DROP TABLE notification_attempts;
DROP TABLE notification_deliveries;
DROP TABLE notification_events;
DROP TABLE notification_endpoints;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
