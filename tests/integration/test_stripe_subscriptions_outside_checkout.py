"""Stripe subscriptions created outside this app's checkout (the Dashboard, the API) with only
`metadata.organization_id`: the plan and interval come from the price; an event that can never
apply is parked at once as rejected, with its reason, listed by `billing webhooks inbox`, and
applied by a replay once the catalog knows its price."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from billing_core.plans.catalog import set_plan
from tests.support.ledger import balance as balance_of
from tests.support.ledger import committed, cr, create_org
from tests.support.processes import billing
from tests.support.purchases import deliver, inbox_row, process, process_all
from tests.support.subscriptions import with_stripe_prices
from tests.support.webhook_payloads import stripe_event

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
SOON = JAN1 + timedelta(days=1)
AT = JAN1 + timedelta(minutes=1)  # when the events are processed


def dashboard_subscription(sub: str, price: str, *, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """customer.subscription.created as Stripe sends it for a subscription made in the Dashboard."""
    obj = {
        "id": sub,
        "object": "subscription",
        "customer": "cus_dash",
        "status": "active",
        "cancel_at_period_end": False,
        "metadata": {"organization_id": "acme"} if metadata is None else metadata,
        "items": {"object": "list", "data": [{"id": "si_d", "price": {"id": price}}]},
    }
    return stripe_event("customer.subscription.created", obj, event_id=f"evt_created_{sub}")


def first_invoice(
    sub: str, price: str, *, metadata: dict[str, str] | None = None, start: datetime = JAN1
) -> dict[str, Any]:
    """Its first invoice.paid (API 2025-09-30: the price under `pricing.price_details`)."""
    obj = {
        "id": f"in_{sub}",
        "object": "invoice",
        "customer": "cus_dash",
        "billing_reason": "subscription_create",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub,
                "metadata": {"organization_id": "acme"} if metadata is None else metadata,
            },
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "period": {"start": int(start.timestamp()), "end": int(start.timestamp()) + 86400 * 365},
                    "pricing": {"type": "price_details", "price_details": {"price": price}},
                }
            ],
        },
    }
    return stripe_event("invoice.paid", obj, event_id=f"evt_paid_{sub}")


def subscription(engine, org: str) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT status, plan_code, cancel_at_period_end FROM subscriptions WHERE organization_id = :o"
            ),
            {"o": org},
        ).one()
    return tuple(row)


@pytest.fixture
def catalog(engine):  # type: ignore[no-untyped-def]
    with_stripe_prices(engine)  # pro: price_pro_m and price_pro_y; business: price_biz_m
    create_org(engine, "acme")
    return engine


@pytest.mark.parametrize("invoice_first", [True, False])
def test_a_subscription_with_only_the_organization_in_its_metadata_activates_on_its_prices_plan(
    catalog, invoice_first
):
    engine = catalog
    events = [dashboard_subscription("sub_dash", "price_pro_y"), first_invoice("sub_dash", "price_pro_y")]
    rows = [deliver(engine, "stripe", e["id"], e) for e in (reversed(events) if invoice_first else events)]
    assert process_all(engine, rows, AT) == ["processed", "processed"]
    assert subscription(engine, "acme") == ("active", "pro", False)
    with engine.connect() as c:
        interval = c.exec_driver_sql("SELECT billing_interval FROM subscriptions").scalar_one()
    assert interval == "year"  # price_pro_y is Pro's yearly price
    assert balance_of(engine, "acme", SOON).balance == cr(1000)  # Pro's first month


def test_an_unknown_price_is_parked_at_once_with_its_reason_and_applies_once_the_catalog_has_it(
    catalog, database_url
):
    engine = catalog
    paid = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # the CLI replays at the real now
    row = deliver(
        engine, "stripe", "evt_paid_sub_x", first_invoice("sub_x", "price_enterprise_m", start=paid)
    )
    assert process(engine, row, paid) == "rejected"  # at once: no NotYet, no retry
    status, reason, detail, attempts = inbox_row(engine, row)
    assert (status, reason, attempts) == ("rejected", "unknown_price", 1)
    assert "price_enterprise_m" in (detail or "")
    assert subscription_count(engine) == 0 and balance_of(engine, "acme", paid).balance == 0

    listed = json.loads(billing(database_url, "webhooks", "inbox", "--status", "rejected", "--json").stdout)
    assert [(r["id"], r["status"], r["reason"]) for r in listed] == [(row, "rejected", "unknown_price")]
    text_listing = billing(database_url, "webhooks", "inbox").stdout
    assert "unknown_price" in text_listing and "price_enterprise_m" in text_listing
    still = billing(database_url, "webhooks", "replay", str(row), check=False)
    assert still.returncode == 1 and "rejected (unknown_price" in still.stdout

    committed(
        engine,
        lambda c: set_plan(
            c, "business", JAN1, credits_per_month=cr(5000), stripe_price_monthly="price_enterprise_m"
        ),
    )
    replayed = billing(database_url, "webhooks", "replay", "--rejected")
    assert f"inbox row {row}: processed" in replayed.stdout
    assert subscription(engine, "acme") == ("active", "business", False)
    assert balance_of(engine, "acme", datetime.now(UTC)).balance == cr(5000)


def subscription_count(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.exec_driver_sql("SELECT count(*) FROM subscriptions").scalar_one())


def test_a_subscription_without_an_organization_or_for_an_unknown_one_is_parked_at_once(catalog):
    engine = catalog
    rows = [
        deliver(engine, "stripe", "a", first_invoice("sub_a", "price_pro_m", metadata={})),
        deliver(
            engine, "stripe", "b", first_invoice("sub_b", "price_pro_m", metadata={"organization_id": "nope"})
        ),
    ]
    assert [process(engine, r, AT) for r in rows] == ["rejected", "rejected"]
    assert [inbox_row(engine, r)[1] for r in rows] == ["unknown_organization", "unknown_organization"]
    assert subscription_count(engine) == 0


def test_an_update_of_an_unknown_subscription_with_an_unknown_price_is_parked_not_retried(catalog):
    engine = catalog
    update = dashboard_subscription("sub_u", "price_nobody_has")
    update["type"] = "customer.subscription.updated"
    row = deliver(engine, "stripe", "u", update)
    assert process(engine, row, AT) == "rejected"
    assert inbox_row(engine, row)[1] == "unknown_price"
