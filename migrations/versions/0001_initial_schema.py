"""Initial schema: organizations, plans, subscriptions, grants, the ledger, prices, rollups, inboxes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE plans (
    code text PRIMARY KEY,
    name text NOT NULL,
    credits_per_month bigint NOT NULL CHECK (credits_per_month >= 0),
    max_organizations integer NOT NULL CHECK (max_organizations > 0),
    max_agents_per_organization integer NOT NULL CHECK (max_agents_per_organization > 0),
    api_access text NOT NULL CHECK (api_access IN ('basic', 'full', 'enterprise')),
    support_level text NOT NULL CHECK (support_level IN ('standard', 'priority')),
    monthly_price_cents bigint NOT NULL CHECK (monthly_price_cents >= 0),
    currency text NOT NULL DEFAULT 'USD',
    rollover boolean NOT NULL DEFAULT false,
    stripe_price_monthly text,
    stripe_price_yearly text,
    recurrente_product_monthly text,
    recurrente_product_yearly text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    name text NOT NULL,
    owner_user_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    organization_id text NOT NULL REFERENCES organizations(id),
    id text NOT NULL,
    email text,
    name text,
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE agents (
    organization_id text NOT NULL REFERENCES organizations(id),
    id text NOT NULL,
    name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE balances (
    organization_id text PRIMARY KEY REFERENCES organizations(id),
    balance bigint NOT NULL DEFAULT 0,
    overdraft bigint NOT NULL DEFAULT 0 CHECK (overdraft >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    plan_code text NOT NULL REFERENCES plans(code),
    billing_interval text NOT NULL CHECK (billing_interval IN ('month', 'year')),
    status text NOT NULL CHECK (status IN ('incomplete', 'active', 'past_due', 'paused', 'canceled')),
    provider text CHECK (provider IN ('stripe', 'recurrente', 'manual')),
    provider_subscription_id text,
    provider_customer_id text,
    current_period_start timestamptz,
    current_period_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    provider_updated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_subscription_id)
);
CREATE INDEX subscriptions_org ON subscriptions (organization_id);

CREATE TABLE credit_grants (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    source text NOT NULL CHECK (source IN ('subscription_credit', 'bonus', 'refund')),
    amount bigint NOT NULL CHECK (amount > 0),
    remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    effective_at timestamptz NOT NULL,
    expires_at timestamptz CHECK (expires_at IS NULL OR expires_at > effective_at),
    priority integer NOT NULL DEFAULT 0,
    subscription_id bigint REFERENCES subscriptions(id),
    period_start timestamptz,
    expired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, period_start)
);
CREATE INDEX credit_grants_live ON credit_grants (organization_id) WHERE remaining > 0;
CREATE INDEX credit_grants_due ON credit_grants (expires_at) WHERE expired_at IS NULL;

CREATE TABLE model_prices (
    id bigserial PRIMARY KEY,
    model text NOT NULL,
    effective_at timestamptz NOT NULL,
    input_per_m numeric NOT NULL CHECK (input_per_m >= 0),
    cached_input_per_m numeric NOT NULL CHECK (cached_input_per_m >= 0),
    output_per_m numeric NOT NULL CHECK (output_per_m >= 0),
    source text NOT NULL DEFAULT 'manual',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model, effective_at)
);

CREATE TABLE tool_prices (
    id bigserial PRIMARY KEY,
    tool text NOT NULL,
    effective_at timestamptz NOT NULL,
    per_call numeric NOT NULL CHECK (per_call >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tool, effective_at)
);

CREATE TABLE credit_transactions (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    type text NOT NULL
        CHECK (type IN ('usage', 'subscription_credit', 'bonus', 'refund', 'expiration')),
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    payload_hash text NOT NULL,
    reference_type text NOT NULL,
    reference_id text NOT NULL,
    description text NOT NULL DEFAULT '',
    user_id text,
    agent_id text,
    event_id text,
    model text,
    input_tokens bigint,
    cached_input_tokens bigint,
    output_tokens bigint,
    tools jsonb,
    model_price_id bigint REFERENCES model_prices(id),
    cost_breakdown jsonb,
    allocations jsonb NOT NULL DEFAULT '[]',
    occurred_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (
        (type = 'usage' AND amount <= 0 AND event_id IS NOT NULL AND model_price_id IS NOT NULL)
        OR (type IN ('subscription_credit', 'bonus') AND amount > 0)
        OR (type = 'refund' AND amount >= 0)
        OR (type = 'expiration' AND amount < 0)
    )
);
CREATE UNIQUE INDEX credit_transactions_one_usage_per_event
    ON credit_transactions (event_id) WHERE type = 'usage';
CREATE UNIQUE INDEX credit_transactions_one_refund_per_event
    ON credit_transactions (event_id) WHERE type = 'refund' AND event_id IS NOT NULL;
CREATE INDEX credit_transactions_history ON credit_transactions (organization_id, id DESC);

CREATE TABLE usage_daily (
    organization_id text NOT NULL REFERENCES organizations(id),
    day date NOT NULL,
    model text NOT NULL,
    credits bigint NOT NULL DEFAULT 0,
    refunded bigint NOT NULL DEFAULT 0,
    messages bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    cached_input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    tool_calls bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, model)
);

CREATE TABLE rejected_events (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL DEFAULT '',
    event_id text,
    organization_id text,
    payload jsonb NOT NULL,
    fingerprint text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'replayed', 'resolved')),
    created_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX rejected_events_reason ON rejected_events (reason, status);

CREATE TABLE webhook_inbox (
    id bigserial PRIMARY KEY,
    provider text NOT NULL CHECK (provider IN ('stripe', 'recurrente')),
    external_id text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processed', 'ignored', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    error text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    UNIQUE (provider, external_id)
);
"""

DOWNGRADE = """
DROP TABLE webhook_inbox;
DROP TABLE rejected_events;
DROP TABLE usage_daily;
DROP TABLE credit_transactions;
DROP TABLE tool_prices;
DROP TABLE model_prices;
DROP TABLE credit_grants;
DROP TABLE subscriptions;
DROP TABLE balances;
DROP TABLE agents;
DROP TABLE users;
DROP TABLE organizations;
DROP TABLE plans;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
