"""Admin keys with roles, and the append-only audit log.

- `admin_keys`: named admin credentials (`bk_adm_...`), each with one role (owner, billing,
  support, read); stored as a SHA-256 hash like the API keys, the prefix kept in clear. A name is
  unique among the keys not revoked.
- `audit_events`: one row per privileged action, written in the action's own transaction. A
  trigger refuses UPDATE, DELETE and TRUNCATE: the log is only appended to.
- `credit_transactions.audit_event_id`: the audit event of a ledger row a person caused (bonus
  grants, admin refunds). The reference is checked at commit, so the ledger row may be written
  before its audit event in the same transaction.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE admin_keys (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9._@-]{1,100}$'),
    role text NOT NULL CHECK (role IN ('owner', 'billing', 'support', 'read')),
    prefix text NOT NULL UNIQUE,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE UNIQUE INDEX admin_keys_active_name ON admin_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor_kind text NOT NULL CHECK (
        actor_kind IN ('admin_key', 'admin_token', 'api_key', 'service_key', 'cli', 'system')),
    actor text NOT NULL,
    action text NOT NULL CHECK (action ~ '^[a-z_]+(\\.[a-z_]+)+$'),
    organization_id text,
    target_kind text,
    target_id text,
    request_id text,
    source_address text,
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_actor ON audit_events (actor, id DESC);
CREATE INDEX audit_events_action ON audit_events (action, id DESC);
CREATE INDEX audit_events_organization ON audit_events (organization_id, id DESC)
    WHERE organization_id IS NOT NULL;

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

ALTER TABLE credit_transactions ADD COLUMN audit_event_id bigint
    REFERENCES audit_events(id) DEFERRABLE INITIALLY DEFERRED;
"""

DOWNGRADE = """
ALTER TABLE credit_transactions DROP COLUMN audit_event_id;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE admin_keys;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
