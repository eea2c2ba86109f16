"""Console server-side sessions and the shared count of failed authentications.

- `console_secrets`: one random secret, made by the migration, that every API process reads: it
  signs the console's CSRF tokens (of a session, and of the sign-in form) and keys the HMAC of the
  admin token a session stands for. No setting to configure, the same in every process.
- `console_sessions`: one row per console sign-in. The cookie holds only a random session id; the
  row keeps its SHA-256 hash, the identity it stands for (`admin_token`, `api_key` or `admin_key`),
  the organization opened, times and the client address. A session ends when `ended_at` is set
  (sign-out, `billing sessions revoke`) or when it is idle or old past the configured limits.
  `admin_key_id` names the admin key (0012) a session stands for.
- `auth_failures`: failed authentications per client address and minute, shared by every API
  process (UNLOGGED: a crash only forgets recent failures).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE console_secrets (
    id smallint PRIMARY KEY CHECK (id = 1),
    secret text NOT NULL CHECK (length(secret) >= 32)
);
-- gen_random_uuid() draws from the server's strong random source: 244 random bits in all.
INSERT INTO console_secrets (id, secret)
VALUES (1, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

CREATE TABLE console_sessions (
    id bigserial PRIMARY KEY,
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    identity_kind text NOT NULL CHECK (identity_kind IN ('admin_token', 'api_key', 'admin_key')),
    api_key_id bigint REFERENCES api_keys(id),
    admin_key_id bigint REFERENCES admin_keys(id),
    admin_token_mac text,
    display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    organization_id text NOT NULL REFERENCES organizations(id),
    source_address text CHECK (length(source_address) <= 100),
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at timestamptz,
    end_reason text CHECK (length(end_reason) <= 100),
    CONSTRAINT console_sessions_api_key CHECK ((identity_kind = 'api_key') = (api_key_id IS NOT NULL)),
    CONSTRAINT console_sessions_admin_key CHECK ((identity_kind = 'admin_key') = (admin_key_id IS NOT NULL)),
    CONSTRAINT console_sessions_admin_token
        CHECK ((identity_kind = 'admin_token') = (admin_token_mac IS NOT NULL)),
    CONSTRAINT console_sessions_times CHECK (last_seen_at >= created_at AND ended_at >= created_at)
);
CREATE INDEX console_sessions_live ON console_sessions (created_at) WHERE ended_at IS NULL;
CREATE INDEX console_sessions_organization ON console_sessions (organization_id) WHERE ended_at IS NULL;
CREATE INDEX console_sessions_api_key ON console_sessions (api_key_id) WHERE api_key_id IS NOT NULL;

CREATE UNLOGGED TABLE auth_failures (
    address text PRIMARY KEY CHECK (length(address) <= 100),
    window_start timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures > 0)
);
"""

DOWNGRADE = """
DROP TABLE auth_failures;
DROP TABLE console_sessions;
DROP TABLE console_secrets;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
