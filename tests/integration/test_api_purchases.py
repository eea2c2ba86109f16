"""Buying credits over HTTP, with the real `stripe` library and the Recurrente adapter against the
local fake of both providers: the packs, a pack's checkout (the exact requests sent), the
purchases, and the auto-recharge setting."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from billing_core.purchases import methods
from billing_core.purchases.packs import PackChange, set_pack
from tests.support.api import Api, error_of, subscribe
from tests.support.ledger import committed, cr, create_org
from tests.support.providers import FakeProviders, fake_providers
from tests.support.purchases import NOW, checkout_completed, deliver, process, purchase, with_packs

STRIPE_KEY = "sk_test_fake_key_123"
PUBLIC, SECRET = "pk_test_recurrente", "sk_test_recurrente_secret"
URLS = {"success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/cancel"}
CHECKOUT = "/v1/organizations/acme/purchases/checkout"
RECHARGE = "/v1/organizations/acme/auto-recharge"


@pytest.fixture
def fake() -> FakeProviders:
    with fake_providers() as server:
        yield server


@pytest.fixture
def api(database_url, engine, fake):
    with_packs(engine)
    create_org(engine, "acme")
    return Api(
        database_url,
        engine,
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=fake.url,
        recurrente_public_key=PUBLIC,
        recurrente_secret_key=SECRET,
        recurrente_api_base=f"{fake.url}/api",
    )


def purchase_count(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM purchases")).scalar_one())


def test_the_packs_on_sale_are_listed_with_exact_credits_and_prices_in_cents(api, engine):
    committed(
        engine, lambda c: set_pack(c, "old", PackChange(credits=cr(5), price_cents=100, active=False), NOW)
    )
    response = api.get("/v1/credit-packs")
    assert response.status_code == 200, response.json
    assert response.json["data"] == [
        {
            "code": "small",
            "name": "Small",
            "credits": "100.000000",
            "price_cents": 1_000,
            "currency": "USD",
            "expires_after_days": None,
        },
        {
            "code": "large",
            "name": "Large pack",
            "credits": "1000.000000",
            "price_cents": 8_000,
            "currency": "USD",
            "expires_after_days": 365,
        },
    ]
    key = api.new_key("acme")["key"]  # a Free organization's key: basic access
    assert api.get("/v1/credit-packs", token=key).status_code == 403


def test_a_stripe_pack_checkout_is_a_payment_session_that_saves_the_card_once_per_request(api, engine, fake):
    body = {"pack": "small", "provider": "stripe", **URLS}
    first = api.post(CHECKOUT, json=body)
    again = api.post(CHECKOUT, json=body)

    assert first.status_code == 200, first.json
    assert again.json == first.json
    assert first.json == {
        "checkout_url": "https://checkout.stripe.test/c/pay/cs_test_1",
        "provider": "stripe",
        "provider_reference": "cs_test_1",
        "purchase_id": first.json["purchase_id"],
    }
    pid = str(first.json["purchase_id"])
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price]": "price_small",
        "line_items[0][quantity]": "1",
        "client_reference_id": "acme",
        **URLS,
        "metadata[organization_id]": "acme",
        "metadata[purchase_id]": pid,
        "metadata[pack]": "small",
        "payment_intent_data[metadata][organization_id]": "acme",
        "payment_intent_data[metadata][purchase_id]": pid,
        "payment_intent_data[metadata][pack]": "small",
        "payment_intent_data[setup_future_usage]": "off_session",
        "customer_creation": "always",
    }
    keys = [r.header("Idempotency-Key") for r in fake.requests]
    assert keys[0] == keys[1] and (keys[0] or "").startswith("checkout:")
    assert purchase_count(engine) == 1 and purchase(engine, int(pid)).checkout_reference == "cs_test_1"

    # Paid: the same request now buys another pack, under a new key.
    process(
        engine,
        deliver(engine, "stripe", "paid", checkout_completed(purchase(engine, int(pid)), event_id="paid")),
    )
    third = api.post(CHECKOUT, json=body)
    assert third.json["purchase_id"] != first.json["purchase_id"]
    assert fake.requests[2].header("Idempotency-Key") != keys[0]


def test_a_pack_without_a_stripe_price_is_sold_inline_to_the_organizations_saved_customer(api, engine, fake):
    committed(engine, lambda c: methods.remember(c, "acme", "cus_known", None, NOW))
    response = api.post(CHECKOUT, json={"pack": "large", "provider": "stripe", **URLS})
    assert response.status_code == 200, response.json
    form = fake.requests[0].form
    assert (form["line_items[0][price_data][currency]"], form["line_items[0][price_data][unit_amount]"]) == (
        "usd",
        "8000",
    )
    assert form["line_items[0][price_data][product_data][name]"] == "Large pack: 1,000 credits"
    assert form["customer"] == "cus_known" and "customer_creation" not in form


def test_a_recurrente_pack_checkout_is_a_one_off_item_with_the_purchase_in_its_metadata(api, fake):
    response = api.post(CHECKOUT, json={"pack": "large", "provider": "recurrente", **URLS})
    assert response.status_code == 200, response.json
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/api/checkouts")
    assert sent.json == {
        "items": [
            {"name": "Large pack: 1,000 credits", "amount_in_cents": 8_000, "currency": "USD", "quantity": 1}
        ],
        **URLS,
        "metadata": {
            "organization_id": "acme",
            "purchase_id": str(response.json["purchase_id"]),
            "pack": "large",
        },
    }


def test_refusals_name_the_problem_and_grant_nothing(api, engine, fake, database_url):
    unknown = api.post(CHECKOUT, json={"pack": "nope", "provider": "stripe", **URLS})
    assert unknown.status_code == 400 and error_of(unknown)["type"] == "unknown_pack"
    committed(engine, lambda c: set_pack(c, "small", PackChange(active=False), NOW))
    withdrawn = api.post(CHECKOUT, json={"pack": "small", "provider": "stripe", **URLS})
    assert withdrawn.status_code == 400 and error_of(withdrawn)["type"] == "pack_not_offered"
    assert fake.requests == [] and purchase_count(engine) == 0

    fake.fail_with = 402
    refused = api.post(CHECKOUT, json={"pack": "large", "provider": "stripe", **URLS})
    assert refused.status_code == 502 and error_of(refused)["type"] == "provider_error"
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM purchases")).scalars().all() == ["pending"]
        assert c.execute(text("SELECT count(*) FROM credit_grants")).scalar_one() == 0

    unconfigured = Api(database_url, engine, stripe_api_key="")
    response = unconfigured.post(CHECKOUT, json={"pack": "large", "provider": "stripe", **URLS})
    assert response.status_code == 503 and error_of(response)["type"] == "provider_not_configured"


def test_auto_recharge_is_set_read_and_turned_off_with_clear_errors_for_bad_values(api, engine):
    assert api.get(RECHARGE).json == {
        "organization_id": "acme",
        "enabled": False,
        "threshold": None,
        "pack": None,
        "monthly_cap_cents": None,
        "charged_this_month_cents": 0,
        "saved_payment_method": False,
    }
    bad = {
        "float": (
            {"enabled": True, "threshold": 20.5, "pack": "small", "monthly_cap_cents": 5_000},
            "threshold",
        ),
        "cap": (
            {"enabled": True, "threshold": "20", "pack": "small", "monthly_cap_cents": 500},
            "monthly_cap_cents",
        ),
        "pack": ({"enabled": True, "threshold": "20", "pack": "nope", "monthly_cap_cents": 5_000}, "pack"),
        "missing": ({"enabled": True, "threshold": "20"}, "pack"),
    }
    for name, (body, field) in bad.items():
        response = api.call("PUT", RECHARGE, json=body)
        assert response.status_code == 400, (name, response.json)
        assert error_of(response)["field"] == field, name

    on = api.call(
        "PUT",
        RECHARGE,
        json={"enabled": True, "threshold": "20.5", "pack": "small", "monthly_cap_cents": 5_000},
    )
    assert on.status_code == 200, on.json
    assert (on.json["enabled"], on.json["threshold"], on.json["pack"]) == (True, "20.500000", "small")
    off = api.call("PUT", RECHARGE, json={"enabled": False})
    assert (off.json["enabled"], off.json["threshold"], off.json["monthly_cap_cents"]) == (
        False,
        "20.500000",
        5_000,
    )
    with engine.connect() as c:
        assert (
            c.execute(text("SELECT recharge_threshold FROM balances WHERE organization_id = 'acme'")).scalar()
            is None
        )
    back_on = api.call("PUT", RECHARGE, json={"enabled": True})  # the values kept from before
    assert back_on.json["enabled"] is True
    with engine.connect() as c:
        threshold = c.execute(text("SELECT recharge_threshold FROM balances WHERE organization_id = 'acme'"))
        assert threshold.scalar() == cr("20.5")


def test_purchases_are_listed_and_their_ledger_rows_filtered_by_type(api, engine):
    subscribe(engine, "acme", "business")  # enterprise access for its key
    key = api.new_key("acme")["key"]
    response = api.post(CHECKOUT, json={"pack": "small", "provider": "stripe", **URLS}, token=key)
    assert response.status_code == 200, response.json
    bought = purchase(engine, response.json["purchase_id"])
    process(engine, deliver(engine, "stripe", "paid", checkout_completed(bought, event_id="paid")))
    listed = api.get("/v1/organizations/acme/purchases", token=key).json["data"]
    assert [(p["pack"], p["status"], p["credits"], p["kind"]) for p in listed] == [
        ("small", "paid", "100.000000", "checkout")
    ]
    rows = api.get("/v1/organizations/acme/transactions?type=purchase", token=key).json["data"]
    assert [(r["type"], r["amount"], r["reference"]) for r in rows] == [
        ("purchase", "100.000000", {"type": "purchase", "id": str(bought.id)})
    ]
