"""The database itself refuses rows that would break the ledger's invariants."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.support.ledger import create_org, debit, event, grant, setup_prices


def _insert_transaction(engine, **overrides):  # type: ignore[no-untyped-def]
    row = {
        "org": "acme",
        "type": "bonus",
        "amount": 5,
        "key": "k",
        "event": None,
        "price": None,
    }
    row.update(overrides)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO credit_transactions (organization_id, type, amount, balance_after, "
                "idempotency_key, payload_hash, reference_type, reference_id, occurred_at, event_id, "
                "model_price_id) VALUES (:org, :type, :amount, 0, :key, 'h', 'test', 'x', now(), "
                ":event, :price)"
            ),
            row,
        )


def test_a_grant_cannot_go_below_zero_remaining(engine):
    create_org(engine, "acme")
    grant(engine, "acme", 1, "g")
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(text("UPDATE credit_grants SET remaining = -1"))


def test_signs_are_checked_per_transaction_type(engine):
    create_org(engine, "acme")
    with pytest.raises(IntegrityError):
        _insert_transaction(engine, type="bonus", amount=-5)
    with pytest.raises(IntegrityError):
        _insert_transaction(engine, type="expiration", amount=5)


def test_an_idempotency_key_and_an_event_id_are_usable_once(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    debit(engine, [event("m1", "acme")])
    with engine.connect() as c:
        price = c.execute(text("SELECT model_price_id FROM credit_transactions")).scalar_one()
    with pytest.raises(IntegrityError):
        _insert_transaction(engine, type="usage", amount=-1, key="usage:m1", event="m1", price=price)
    with pytest.raises(IntegrityError):
        _insert_transaction(engine, type="usage", amount=-1, key="other-key", event="m1", price=price)


def test_a_transaction_must_name_an_existing_organization(engine):
    with pytest.raises(IntegrityError):
        _insert_transaction(engine, org="nobody")
