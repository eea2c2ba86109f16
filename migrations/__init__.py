"""Alembic revisions of the billing schema; `billing migrate` applies them."""
