"""Service keys: keys for a platform's own services (agent runtimes reporting usage, dashboards),
not bound to one organization. Stored like API keys (a visible prefix and the SHA-256 hash of the
whole key, shown once, revocable, last_used_at), with scopes (`ingest`, `read`) and an optional
allow-list of organizations (NULL: every organization).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE service_keys (
    id bigserial PRIMARY KEY,
    prefix text NOT NULL CHECK (length(prefix) BETWEEN 1 AND 64),
    key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read']),
    organizations text[] CHECK (organizations IS NULL OR cardinality(organizations) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz
);
"""

DOWNGRADE = """
DROP TABLE service_keys;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
