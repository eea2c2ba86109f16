"""The real `stripe` library and the Recurrente adapter, driven through the API, against a local fake
of both providers: the exact requests they send (paths, prices, metadata, keys, idempotency keys)
and what the endpoints answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_core.plans.catalog import set_plan
from tests.support.api import Api, error_of
from tests.support.ledger import committed, create_org
from tests.support.providers import FakeProviders, fake_providers
from tests.support.subscriptions import subscribed_lately, with_stripe_prices

STRIPE_KEY = "sk_test_fake_key_123"
PUBLIC, SECRET = "pk_test_recurrente", "sk_test_recurrente_secret"
URLS = {"success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/cancel"}


@pytest.fixture
def fake() -> FakeProviders:
    with fake_providers() as server:
        yield server


@pytest.fixture
def api(database_url, engine, fake):
    with_stripe_prices(engine)
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


def test_a_stripe_checkout_is_a_subscription_session_with_the_plan_price_and_the_organization(api, fake):
    body = {"plan": "pro", "interval": "month", "provider": "stripe", **URLS}
    first = api.post("/v1/organizations/acme/subscription/checkout", json=body)
    again = api.post("/v1/organizations/acme/subscription/checkout", json=body)

    assert first.status_code == 200, first.json
    assert again.json == first.json
    assert first.json == {
        "checkout_url": "https://checkout.stripe.test/c/pay/cs_test_1",
        "provider": "stripe",
        "provider_reference": "cs_test_1",
    }
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.header("Authorization") == f"Bearer {STRIPE_KEY}"
    assert sent.form == {
        "mode": "subscription",
        "line_items[0][price]": "price_pro_m",
        "line_items[0][quantity]": "1",
        "client_reference_id": "acme",
        "success_url": URLS["success_url"],
        "cancel_url": URLS["cancel_url"],
        "metadata[organization_id]": "acme",
        "metadata[plan]": "pro",
        "metadata[interval]": "month",
        "subscription_data[metadata][organization_id]": "acme",
        "subscription_data[metadata][plan]": "pro",
        "subscription_data[metadata][interval]": "month",
    }
    key = sent.header("Idempotency-Key")
    assert key is not None and key.startswith("checkout:")
    assert [r.header("Idempotency-Key") for r in fake.requests] == [key, key]  # a retry is the same checkout


def test_a_yearly_stripe_checkout_uses_the_yearly_price_and_a_plan_without_one_is_refused(api, fake):
    yearly = api.post(
        "/v1/organizations/acme/subscription/checkout",
        json={"plan": "pro", "interval": "year", "provider": "stripe", **URLS},
    )
    missing = api.post(
        "/v1/organizations/acme/subscription/checkout",
        json={"plan": "business", "interval": "year", "provider": "stripe", **URLS},
    )

    assert yearly.status_code == 200
    assert fake.requests[0].form["line_items[0][price]"] == "price_pro_y"
    assert missing.status_code == 400
    assert error_of(missing)["type"] == "plan_not_offered"
    assert len(fake.requests) == 1


def test_a_recurrente_checkout_is_a_recurring_item_at_the_yearly_price_with_both_keys(api, fake):
    response = api.post(
        "/v1/organizations/acme/subscription/checkout",
        json={"plan": "pro", "interval": "year", "provider": "recurrente", **URLS},
    )

    assert response.status_code == 200, response.json
    assert response.json["checkout_url"] == "https://app.recurrente.test/checkout/ch_1"
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/api/checkouts")
    assert (sent.header("X-PUBLIC-KEY"), sent.header("X-SECRET-KEY")) == (PUBLIC, SECRET)
    assert (sent.header("Idempotency-Key") or "").startswith("checkout:")
    assert sent.json == {
        "items": [
            {
                "name": "Pro (yearly)",
                "charge_type": "recurring",
                "billing_interval": "year",
                "billing_interval_count": 1,
                "amount_in_cents": 19_200,
                "currency": "USD",
                "quantity": 1,
            }
        ],
        **URLS,
        "metadata": {"organization_id": "acme", "plan": "pro", "interval": "year"},
    }


def test_the_billing_portal_is_a_stripe_session_for_the_subscriptions_customer(api, engine, fake):
    subscribed_lately(engine, "stripe")
    response = api.post(
        "/v1/organizations/acme/subscription/portal", json={"return_url": "https://app.example.com/back"}
    )

    assert response.status_code == 200, response.json
    assert response.json == {"url": "https://billing.stripe.test/p/session/bps_1"}
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/billing_portal/sessions")
    assert sent.form == {"customer": "cus_1", "return_url": "https://app.example.com/back"}
    assert sent.header("Idempotency-Key")


def test_a_stripe_upgrade_switches_the_item_price_invoicing_the_proration_once_per_period(api, engine, fake):
    sub = subscribed_lately(engine, "stripe")[0]
    first = api.post(
        "/v1/organizations/acme/subscription/change", json={"plan": "business", "interval": "month"}
    )
    again = api.post(
        "/v1/organizations/acme/subscription/change", json={"plan": "business", "interval": "month"}
    )

    assert first.status_code == 200, first.json
    upgrade = first.json["upgrade"]
    assert upgrade["status"] == "charged" and upgrade["provider_reference"] == "in_2"
    assert 0 < upgrade["charge_cents"] < 9_900 - 2_000
    assert again.json["upgrade"] == upgrade  # the same quote, not a new one
    assert first.json["subscription"]["pending_upgrade"] == {
        "plan": "business",
        "charge_cents": upgrade["charge_cents"],
    }
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/v1/subscriptions/sub_1"),
        ("POST", "/v1/subscriptions/sub_1"),
    ] * 2
    update = fake.requests[1]
    assert update.form["items[0][id]"] == "si_1"
    assert update.form["items[0][price]"] == "price_biz_m"
    assert update.form["proration_behavior"] == "always_invoice"
    assert update.form["metadata[upgrade_plan]"] == "business"
    key = update.header("Idempotency-Key")
    assert key is not None and key.startswith(f"subscription:{sub}:upgrade:business:")
    assert fake.requests[3].header("Idempotency-Key") == key


def test_a_recurrente_upgrade_is_a_one_off_checkout_for_the_prorated_difference(api, engine, fake):
    subscribed_lately(engine, "recurrente", provider_id="su_1")
    response = api.post(
        "/v1/organizations/acme/subscription/change",
        json={"plan": "business", "interval": "month", **URLS},
    )

    assert response.status_code == 200, response.json
    upgrade = response.json["upgrade"]
    assert upgrade["status"] == "awaiting_payment"
    assert upgrade["checkout_url"] == "https://app.recurrente.test/checkout/ch_1"
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/api/checkouts")
    item = sent.json["items"][0]
    assert (item["amount_in_cents"], item["currency"], item.get("charge_type")) == (
        upgrade["charge_cents"],
        "USD",
        None,
    )
    assert sent.json["metadata"]["upgrade_plan"] == "business"
    assert sent.json["metadata"]["subscription_id"] == "su_1"
    assert sent.json["success_url"] == URLS["success_url"]


def test_cancel_and_resume_at_stripe_set_cancel_at_period_end_each_with_its_own_key(api, engine, fake):
    subscribed_lately(engine, "stripe")
    canceled = api.post("/v1/organizations/acme/subscription/cancel")
    canceled_again = api.post("/v1/organizations/acme/subscription/cancel")
    resumed = api.post("/v1/organizations/acme/subscription/resume")

    assert canceled.status_code == 200 and canceled.json["cancel_at_period_end"] is True
    assert canceled_again.json["cancel_at_period_end"] is True
    assert resumed.status_code == 200 and resumed.json["cancel_at_period_end"] is False
    assert [(r.method, r.path, r.form) for r in fake.requests] == [
        ("POST", "/v1/subscriptions/sub_1", {"cancel_at_period_end": "true"}),
        ("POST", "/v1/subscriptions/sub_1", {"cancel_at_period_end": "false"}),
    ]
    keys = [r.header("Idempotency-Key") for r in fake.requests]
    assert all(keys) and keys[0] != keys[1]


def test_cancel_at_recurrente_deletes_the_subscription_and_resuming_is_refused(api, engine, fake):
    subscribed_lately(engine, "recurrente", provider_id="su_1")
    canceled = api.post("/v1/organizations/acme/subscription/cancel")
    resumed = api.post("/v1/organizations/acme/subscription/resume")
    portal = api.post("/v1/organizations/acme/subscription/portal", json={"return_url": URLS["success_url"]})

    assert canceled.status_code == 200 and canceled.json["cancel_at_period_end"] is True
    assert [(r.method, r.path) for r in fake.requests] == [("DELETE", "/api/subscriptions/su_1")]
    assert (fake.requests[0].header("X-PUBLIC-KEY"), fake.requests[0].header("X-SECRET-KEY")) == (
        PUBLIC,
        SECRET,
    )
    assert resumed.status_code == 409 and error_of(resumed)["type"] == "not_supported_by_provider"
    assert portal.status_code == 409 and error_of(portal)["type"] == "not_supported_by_provider"
    assert api.get("/v1/organizations/acme/subscription").json["cancel_at_period_end"] is True


def test_a_provider_that_refuses_gives_502_and_leaves_the_subscription_as_it_was(api, engine, fake):
    subscribed_lately(engine, "stripe")
    fake.fail_with = 402
    response = api.post("/v1/organizations/acme/subscription/cancel")

    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "provider_error"
    assert STRIPE_KEY not in response.get_data(as_text=True)
    assert api.get("/v1/organizations/acme/subscription").json["cancel_at_period_end"] is False


def test_an_unconfigured_provider_answers_503_and_nothing_is_sent(database_url, engine, fake):
    create_org(engine, "acme")
    api = Api(database_url, engine, stripe_api_key="", recurrente_public_key=PUBLIC)
    for provider in ("stripe", "recurrente"):
        response = api.post(
            "/v1/organizations/acme/subscription/checkout",
            json={"plan": "pro", "interval": "month", "provider": provider, **URLS},
        )
        assert response.status_code == 503, response.json
        assert error_of(response)["type"] == "provider_not_configured"
    assert fake.requests == []


def test_a_stripe_downgrade_switches_the_price_without_proration_so_it_bills_from_renewal(api, engine, fake):
    sub = subscribed_lately(engine, "stripe", plan="business")[0]
    response = api.post(
        "/v1/organizations/acme/subscription/change", json={"plan": "pro", "interval": "month"}
    )

    assert response.status_code == 200, response.json
    assert response.json["upgrade"] is None
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/v1/subscriptions/sub_1"),
        ("POST", "/v1/subscriptions/sub_1"),
    ]
    update = fake.requests[1]
    assert update.form["items[0][price]"] == "price_pro_m"
    assert update.form["proration_behavior"] == "none"
    key = update.header("Idempotency-Key")
    assert key is not None and key.startswith(f"subscription:{sub}:schedule:pro:month:")


def test_a_recurrente_downgrade_is_refused_and_nothing_changes(api, engine, fake):
    subscribed_lately(engine, "recurrente", plan="business", provider_id="su_1")
    response = api.post(
        "/v1/organizations/acme/subscription/change", json={"plan": "pro", "interval": "month"}
    )

    assert response.status_code == 409 and error_of(response)["type"] == "not_supported_by_provider"
    assert fake.requests == []
    assert api.get("/v1/organizations/acme/subscription").json["scheduled_change"] is None


def test_a_recurrente_checkout_uses_the_price_configured_in_recurrente_when_the_plan_has_one(
    api, engine, fake
):
    committed(
        engine,
        lambda c: set_plan(
            c,
            "pro",
            datetime(2026, 1, 1, tzinfo=UTC),
            credits_per_month=10**9,
            recurrente_product_monthly="pr_m1",
        ),
    )
    response = api.post(
        "/v1/organizations/acme/subscription/checkout",
        json={"plan": "pro", "interval": "month", "provider": "recurrente", **URLS},
    )

    assert response.status_code == 200, response.json
    [sent] = fake.requests
    assert sent.json["items"] == [{"price_id": "pr_m1"}]
    assert sent.json["metadata"] == {"organization_id": "acme", "plan": "pro", "interval": "month"}
