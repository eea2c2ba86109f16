"""The subscription endpoints through the Flask test client, with a recording payment provider
injected: what they show, what they change, what they ask of the provider, and who may call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_core.subscriptions import service
from billing_core.subscriptions.calendar import add_months
from tests.support.api import Api, error_of
from tests.support.ledger import balance, committed, cr, create_org
from tests.support.providers import RecordingProvider
from tests.support.subscriptions import subscribed_lately

SUB = "/v1/organizations/acme/subscription"


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def api(database_url, engine, provider):
    create_org(engine, "acme")
    return Api(database_url, engine, payments={"stripe": provider})


def activate(engine, plan: str = "pro", interval: str = "month", days_ago: int = 10, provider="stripe"):
    return subscribed_lately(engine, provider, plan=plan, interval=interval, days_ago=days_ago)[1]


def test_an_organization_without_a_subscription_shows_the_free_plan_and_status_none(api):
    response = api.get(SUB)
    unknown = api.get("/v1/organizations/nobody/subscription")

    assert response.status_code == 200
    assert response.json["plan"] == "free" and response.json["status"] == "none"
    assert response.json["next_grant_at"] is None
    assert unknown.status_code == 404


def test_a_yearly_subscription_shows_its_year_and_the_next_monthly_grant(api, engine):
    paid = activate(engine, interval="year", days_ago=40)
    body = api.get(SUB).json

    assert (body["plan"], body["interval"], body["status"], body["provider"]) == (
        "pro",
        "year",
        "active",
        "stripe",
    )
    assert datetime.fromisoformat(body["current_period_start"]) == paid
    assert datetime.fromisoformat(body["current_period_end"]) == add_months(paid, 12)
    assert datetime.fromisoformat(body["next_grant_at"]) == add_months(paid, 2)
    assert body["cancel_at_period_end"] is False
    assert body["scheduled_change"] is None and body["pending_upgrade"] is None
    # The balance's "this period" is the month since the last monthly grant, not the paid year.
    balance = api.get("/v1/organizations/acme/balance").json
    assert datetime.fromisoformat(balance["period_start"]) == add_months(paid, 1)
    assert datetime.fromisoformat(balance["period_end"]) == add_months(paid, 2)


def test_cancel_stops_the_next_grant_and_resume_brings_it_back_telling_the_provider_each_time(
    api, engine, provider
):
    paid = activate(engine)
    canceled = api.post(f"{SUB}/cancel")
    resumed = api.post(f"{SUB}/resume")

    assert canceled.status_code == 200
    assert canceled.json["cancel_at_period_end"] is True and canceled.json["next_grant_at"] is None
    assert resumed.json["cancel_at_period_end"] is False
    assert datetime.fromisoformat(resumed.json["next_grant_at"]) == add_months(paid, 1)
    assert provider.calls == [("cancel", "sub_1"), ("resume", "sub_1")]


def test_a_downgrade_is_scheduled_for_the_end_of_the_period_and_only_rescheduled_at_the_provider(
    api, engine, provider
):
    paid = activate(engine, plan="business")
    response = api.post(f"{SUB}/change", json={"plan": "pro", "interval": "month"})

    assert response.status_code == 200, response.json
    assert response.json["upgrade"] is None
    assert response.json["subscription"]["plan"] == "business"
    scheduled = response.json["subscription"]["scheduled_change"]
    assert (scheduled["plan"], scheduled["interval"]) == ("pro", "month")
    assert datetime.fromisoformat(scheduled["effective_at"]) == add_months(paid, 1)
    assert [call[0] for call in provider.calls] == ["schedule"]  # billed at the new price from renewal
    assert provider.calls[0][2:] == ("pro", "month")


def test_an_upgrade_is_charged_once_whatever_the_retries_and_granted_when_paid(api, engine, provider):
    activate(engine)
    first = api.post(f"{SUB}/change", json={"plan": "business", "interval": "month"})
    again = api.post(f"{SUB}/change", json={"plan": "business", "interval": "month"})

    assert first.status_code == 200, first.json
    charge = first.json["upgrade"]["charge_cents"]
    assert first.json["upgrade"] == {
        "plan": "business",
        "charge_cents": charge,
        "currency": "USD",
        "status": "charged",
        "checkout_url": None,
        "provider_reference": "in_9",
    }
    assert 0 < charge < 9_900 - 2_000  # the rest of the period, prorated
    assert again.json["upgrade"] == first.json["upgrade"]
    assert provider.calls[0] == provider.calls[1]  # same amount, same idempotency key
    period_start = datetime.fromisoformat(first.json["subscription"]["current_period_start"])
    assert provider.calls[0][4] == f"subscription:1:upgrade:business:{period_start.isoformat()}"

    sub_id = committed(engine, lambda c: service.store.live_for_organization(c, "acme").id)
    committed(engine, lambda c: service.record_upgrade_payment(c, sub_id, "business", datetime.now(UTC)))
    body = api.get(SUB).json
    assert (body["plan"], body["pending_upgrade"]) == ("business", None)
    assert balance(engine, "acme", datetime.now(UTC)).balance == cr(5000)


def test_an_upgrade_of_a_manual_subscription_waits_for_payment_without_calling_a_provider(
    api, engine, provider
):
    activate(engine, provider="manual")
    response = api.post(f"{SUB}/change", json={"plan": "business", "interval": "month"})

    assert response.json["upgrade"]["status"] == "pending"
    assert response.json["subscription"]["pending_upgrade"]["plan"] == "business"
    assert provider.calls == []


def test_changing_a_subscription_that_does_not_exist_is_404_no_subscription(api, provider):
    responses = [
        api.post(f"{SUB}/cancel"),
        api.post(f"{SUB}/resume"),
        api.post(f"{SUB}/change", json={"plan": "business", "interval": "month"}),
        api.post(f"{SUB}/portal", json={"return_url": "https://app.example.com/"}),
    ]
    assert [(r.status_code, error_of(r)["type"]) for r in responses] == [(404, "no_subscription")] * 4
    assert provider.calls == []


def test_an_unknown_plan_is_a_400_naming_the_plan_field(api, engine):
    activate(engine)
    response = api.post(f"{SUB}/change", json={"plan": "platinum", "interval": "month"})
    checkout = api.post(
        "/v1/organizations/other/subscription/checkout",
        json={
            "plan": "pro",
            "interval": "month",
            "provider": "stripe",
            "success_url": "x",
            "cancel_url": "y",
        },
    )

    assert response.status_code == 400
    assert error_of(response)["field"] == "plan"
    assert checkout.status_code == 400  # not URLs


def test_a_second_checkout_while_subscribed_is_409_and_never_reaches_the_provider(api, engine, provider):
    activate(engine)
    response = api.post(
        f"{SUB}/checkout",
        json={
            "plan": "business",
            "interval": "month",
            "provider": "stripe",
            "success_url": "https://app.example.com/ok",
            "cancel_url": "https://app.example.com/no",
        },
    )

    assert response.status_code == 409 and error_of(response)["type"] == "already_subscribed"
    assert provider.calls == []


def test_only_the_admin_or_an_enterprise_key_of_the_same_organization_may_manage_it(api, engine):
    activate(engine, plan="business")  # Business gives enterprise API access
    create_org(engine, "small")
    own = api.new_key("acme")["key"]
    small = api.new_key("small")["key"]  # the free plan: basic access

    assert api.get(SUB, token=own).status_code == 200
    assert api.post(f"{SUB}/cancel", token=own).status_code == 200
    assert api.get("/v1/organizations/small/subscription", token=small).status_code == 403
    assert api.get(SUB, token=small).status_code == 404
    assert api.get(SUB, token=None).status_code == 401


def test_asking_again_for_a_quoted_upgrade_days_later_keeps_the_first_quote_and_key(engine):
    create_org(engine, "acme")
    _, paid = subscribed_lately(engine, "stripe", days_ago=20)
    later = paid + timedelta(days=5)

    def change(now: datetime) -> Any:
        return committed(
            engine, lambda c: service.change_plan_of_organization(c, "acme", "business", "month", now)
        )

    first, again = change(paid + timedelta(days=1)), change(later)
    fresh = committed(
        engine, lambda c: service.request_plan_change(c, first.subscription.id, "business", "month", later)
    )

    assert (again.upgrade, again.charge_idempotency_key) == (first.upgrade, first.charge_idempotency_key)
    assert fresh.upgrade.charge_cents < first.upgrade.charge_cents  # a new quote would be smaller
