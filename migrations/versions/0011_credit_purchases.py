"""Credit purchases: packs, one-off purchases and their refunds, auto-recharge, and webhook events
parked as rejected.

- `credit_packs`: what can be bought (credits in micro-credits, a price in cents, the provider ids,
  an optional expiry in days); operators edit them with `billing packs set`.
- `purchases`: one row per checkout or auto-recharge, with its idempotency key (unique); the grant
  it paid for once the provider said paid; what a refund took back (`clawed_back`) and what it
  could not take back because it was spent (`unrecovered`).
- `auto_recharge_settings`: per organization, opt-in: the threshold, the pack, the monthly cap.
  `balances.recharge_threshold` repeats the threshold of an enabled setting on the row a debit
  group already locks, so the crossing is found from the balance before and after the group with
  no extra query; `balances.recharge_crossings` counts crossings (the key of each recharge).
- `saved_payment_methods`: the Stripe customer (and payment method) a purchase saved for
  off-session charges.
- Ledger: the transaction type and grant source `purchase` (a positive row grants a purchase; a
  negative one takes back what was left of it after a refund at the provider).
- `webhook_inbox`: the status `rejected` and its `reason`, for an event that can never apply.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE credit_packs (
    code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,64}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    credits bigint NOT NULL CHECK (credits > 0),
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    stripe_price text,
    recurrente_product text,
    expires_after_days integer CHECK (expires_after_days BETWEEN 1 AND 3660),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE purchases (
    id bigserial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    pack_code text NOT NULL REFERENCES credit_packs(code),
    kind text NOT NULL CHECK (kind IN ('checkout', 'auto_recharge')),
    provider text NOT NULL CHECK (provider IN ('stripe', 'recurrente')),
    status text NOT NULL CHECK (status IN (
        'pending', 'requested', 'charging', 'paid', 'failed', 'skipped', 'expired', 'refunded')),
    credits bigint NOT NULL CHECK (credits > 0),
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    currency text NOT NULL,
    expires_after_days integer,
    idempotency_key text NOT NULL UNIQUE,
    checkout_reference text,
    payment_reference text,
    grant_id bigint REFERENCES credit_grants(id),
    failure_reason text,
    attempts integer NOT NULL DEFAULT 0,
    refunded_cents bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
    clawed_back bigint NOT NULL DEFAULT 0 CHECK (clawed_back >= 0),
    unrecovered bigint NOT NULL DEFAULT 0 CHECK (unrecovered >= 0),
    paid_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT purchases_refund_within_credits CHECK (clawed_back + unrecovered <= credits),
    CONSTRAINT purchases_paid_has_grant CHECK (status NOT IN ('paid', 'refunded') OR grant_id IS NOT NULL)
);
CREATE UNIQUE INDEX purchases_checkout_reference ON purchases (provider, checkout_reference)
    WHERE checkout_reference IS NOT NULL;
CREATE UNIQUE INDEX purchases_payment_reference ON purchases (provider, payment_reference)
    WHERE payment_reference IS NOT NULL;
CREATE UNIQUE INDEX purchases_one_grant ON purchases (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX purchases_organization ON purchases (organization_id, id DESC);
CREATE INDEX purchases_recharges_in_flight ON purchases (updated_at)
    WHERE status IN ('requested', 'charging');

CREATE TABLE auto_recharge_settings (
    organization_id text PRIMARY KEY REFERENCES organizations(id),
    enabled boolean NOT NULL,
    threshold bigint NOT NULL CHECK (threshold > 0),
    pack_code text NOT NULL REFERENCES credit_packs(code),
    monthly_cap_cents bigint NOT NULL CHECK (monthly_cap_cents > 0),
    updated_at timestamptz NOT NULL
);

CREATE TABLE saved_payment_methods (
    organization_id text NOT NULL REFERENCES organizations(id),
    provider text NOT NULL CHECK (provider = 'stripe'),
    customer_id text NOT NULL,
    payment_method_id text,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (organization_id, provider)
);

ALTER TABLE balances
    ADD COLUMN recharge_threshold bigint CHECK (recharge_threshold > 0),
    ADD COLUMN recharge_crossings bigint NOT NULL DEFAULT 0;

-- The new checks accept every row the old ones did: added NOT VALID, then validated.
ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_type_check,
    ADD CONSTRAINT credit_transactions_type_check CHECK (
        type IN ('usage', 'subscription_credit', 'bonus', 'refund', 'expiration', 'purchase')) NOT VALID,
    DROP CONSTRAINT credit_transactions_check,
    ADD CONSTRAINT credit_transactions_check CHECK (
        (type = 'usage' AND amount <= 0 AND event_id IS NOT NULL AND model_price_id IS NOT NULL)
        OR (type IN ('subscription_credit', 'bonus') AND amount > 0)
        OR (type = 'refund' AND amount >= 0)
        OR (type = 'expiration' AND amount < 0)
        OR (type = 'purchase' AND amount <> 0)) NOT VALID;
ALTER TABLE credit_transactions VALIDATE CONSTRAINT credit_transactions_type_check;
ALTER TABLE credit_transactions VALIDATE CONSTRAINT credit_transactions_check;

ALTER TABLE credit_grants DROP CONSTRAINT credit_grants_source_check,
    ADD CONSTRAINT credit_grants_source_check CHECK (
        source IN ('subscription_credit', 'bonus', 'refund', 'purchase'));

ALTER TABLE webhook_inbox DROP CONSTRAINT webhook_inbox_status_check,
    ADD CONSTRAINT webhook_inbox_status_check CHECK (
        status IN ('pending', 'processed', 'ignored', 'failed', 'rejected')),
    ADD COLUMN reason text;
"""

DOWNGRADE = """
ALTER TABLE webhook_inbox DROP COLUMN reason, DROP CONSTRAINT webhook_inbox_status_check,
    ADD CONSTRAINT webhook_inbox_status_check CHECK (status IN ('pending', 'processed', 'ignored', 'failed'));
ALTER TABLE credit_grants DROP CONSTRAINT credit_grants_source_check,
    ADD CONSTRAINT credit_grants_source_check CHECK (source IN ('subscription_credit', 'bonus', 'refund'));
ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_type_check,
    ADD CONSTRAINT credit_transactions_type_check CHECK (
        type IN ('usage', 'subscription_credit', 'bonus', 'refund', 'expiration')),
    DROP CONSTRAINT credit_transactions_check,
    ADD CONSTRAINT credit_transactions_check CHECK (
        (type = 'usage' AND amount <= 0 AND event_id IS NOT NULL AND model_price_id IS NOT NULL)
        OR (type IN ('subscription_credit', 'bonus') AND amount > 0)
        OR (type = 'refund' AND amount >= 0)
        OR (type = 'expiration' AND amount < 0));
ALTER TABLE balances DROP COLUMN recharge_crossings, DROP COLUMN recharge_threshold;
DROP TABLE saved_payment_methods;
DROP TABLE auto_recharge_settings;
DROP TABLE purchases;
DROP TABLE credit_packs;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
