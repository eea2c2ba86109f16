"""The ledger's references checked once per statement, not once per row.

A foreign key checks each inserted row with its own lookup (and row lock) of the organization and
the price version: for a batch of 2,000 usage rows, 4,000 lookups. The same rules, set-based:
- an AFTER INSERT statement trigger finds, in one anti-join over the statement's new rows, any
  row naming an organization or a model price version that does not exist, and fails the
  statement (SQLSTATE 23503, as the foreign key did);
- organizations and price versions are never deleted, nor their ids changed (ledger history
  names them forever): triggers refuse it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_organization_id_fkey;
ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_model_price_id_fkey;

CREATE FUNCTION credit_transactions_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n
               WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = n.organization_id)) THEN
        RAISE EXCEPTION 'credit_transactions: a row names an organization that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n WHERE n.model_price_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM model_prices p WHERE p.id = n.model_price_id)) THEN
        RAISE EXCEPTION 'credit_transactions: a row names a model price version that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER credit_transactions_references AFTER INSERT ON credit_transactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION credit_transactions_check_references();

CREATE FUNCTION refuse_removing_ledger_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: rows the ledger refers to are never deleted nor renamed', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END $$;
CREATE TRIGGER organizations_kept BEFORE DELETE OR UPDATE OF id ON organizations
    FOR EACH ROW EXECUTE FUNCTION refuse_removing_ledger_references();
CREATE TRIGGER model_prices_kept BEFORE DELETE OR UPDATE OF id ON model_prices
    FOR EACH ROW EXECUTE FUNCTION refuse_removing_ledger_references();
"""

DOWNGRADE = """
DROP TRIGGER model_prices_kept ON model_prices;
DROP TRIGGER organizations_kept ON organizations;
DROP FUNCTION refuse_removing_ledger_references();
DROP TRIGGER credit_transactions_references ON credit_transactions;
DROP FUNCTION credit_transactions_check_references();
ALTER TABLE credit_transactions ADD CONSTRAINT credit_transactions_model_price_id_fkey
    FOREIGN KEY (model_price_id) REFERENCES model_prices(id);
ALTER TABLE credit_transactions ADD CONSTRAINT credit_transactions_organization_id_fkey
    FOREIGN KEY (organization_id) REFERENCES organizations(id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
