"""The subscription actions of the Plans tab (checkout, cancel and resume, change of plan, the
billing portal): what they ask of the payment provider, where they send the browser, what the
page says after, and a provider's refusal changing nothing."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import pytest

from tests.support.api import manual_subscription, subscribe
from tests.support.console import (
    PAGE,
    STRIPE_KEY,
    act,
    act_signed,
    day_text,
    follow,
    get,
    ledger_count,
    location,
    query_of,
    signed_in,
    subscription_row,
)
from tests.support.dom import dom
from tests.support.subscriptions import subscribed_lately

# --- checkout -----------------------------------------------------------------------------------


def test_checkout_sends_the_browser_to_the_providers_checkout_for_the_chosen_plan(api, engine, provider):
    signed_in(api)

    response = act_signed(api, "checkout", plan="pro", interval="year", provider="stripe")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://pay.test/c/1"
    [(kind, org, plan, interval, success, cancel, _key)] = provider.calls
    assert (kind, org, plan, interval) == ("checkout", "acme", "pro", "year")
    for url, notice in ((success, "checkout_done"), (cancel, "checkout_canceled")):
        parts = urllib.parse.urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", PAGE)
        assert query_of(url) == {"tab": "plans", "notice": notice}
    assert subscription_row(engine) is None  # nothing is subscribed before the provider confirms


def test_checkout_through_the_stripe_adapter_returns_to_the_console_page(stripe_api, fake):
    api = stripe_api
    signed_in(api)
    page = dom(get(api))
    form = page.find("article", data_plan="pro").find("form")
    fields = {i["name"]: i["value"] for i in form.find_all("input")}
    assert fields["provider"] == "stripe" and fields["plan"] == "pro"

    response = act(api, "checkout", **{**fields, "interval": "year"})

    assert response.status_code == 303
    assert response.headers["Location"] == "https://checkout.stripe.test/c/pay/cs_test_1"
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.form["line_items[0][price]"] == "price_pro_y"
    assert (sent.form["client_reference_id"], sent.form["metadata[plan]"]) == ("acme", "pro")
    assert sent.form["metadata[interval]"] == "year"
    assert sent.form["success_url"] == f"http://localhost{PAGE}?tab=plans&notice=checkout_done"
    assert sent.form["cancel_url"] == f"http://localhost{PAGE}?tab=plans&notice=checkout_canceled"

    back = get(api, f"{PAGE}?tab=plans&notice=checkout_done")
    assert "Thank you" in dom(back).by_id("notice").text
    canceled = get(api, f"{PAGE}?tab=plans&notice=checkout_canceled")
    assert "nothing was charged" in dom(canceled).by_id("notice").text


def test_checkout_when_already_subscribed_shows_the_page_with_an_error_and_calls_no_provider(
    api, engine, provider
):
    subscribe(engine, "acme", "pro")
    before = subscription_row(engine)
    signed_in(api)

    response = act_signed(api, "checkout", plan="business", interval="month", provider="stripe")

    assert response.status_code == 409
    page = dom(response)
    assert "live subscription" in page.by_id("error").text
    assert page.by_id("tab-plans")["aria-selected"] == "true"
    assert provider.calls == []
    assert subscription_row(engine) == before


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"plan": "free", "interval": "month", "provider": "stripe"}, 400, "is free"),
        ({"plan": "platinum", "interval": "month", "provider": "stripe"}, 400, "platinum"),
        ({"plan": "pro", "interval": "week", "provider": "stripe"}, 400, "interval"),
        ({"plan": "pro", "interval": "month", "provider": "paypal"}, 400, "provider"),
    ],
)
def test_a_checkout_the_console_cannot_offer_is_refused_on_the_page(api, provider, form, status, words):
    signed_in(api)

    response = act_signed(api, "checkout", **form)

    assert response.status_code == status
    assert words in dom(response).by_id("error").text
    assert provider.calls == []


# --- cancel and resume --------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_explaining_credits_stay_usable_until_the_period_end(api, engine):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)

    plain = dom(get(api))
    confirm = dom(get(api, f"{PAGE}?tab=plans&confirm=cancel"))

    assert plain.find(id="cancel-confirm") is None
    link = plain.by_id("cancel-subscription")
    assert query_of("http://x/" + link["href"].split("#")[0]) == {"tab": "plans", "confirm": "cancel"}
    dialog = confirm.by_id("cancel-confirm")
    assert dialog["role"] == "alertdialog"
    words = confirm.by_id("cancel-confirm-text").text
    assert "credits stay usable until then" in words
    assert day_text(start + timedelta(days=30)) in words
    assert dialog.find("button", type="submit").text == "Yes, cancel at period end"


def test_cancel_and_resume_of_a_manual_subscription_come_back_to_the_page_with_a_notice(
    api, engine, provider
):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)

    canceled = act_signed(api, "cancel")

    assert canceled.status_code == 303
    assert location(canceled).path == PAGE
    assert query_of(canceled.headers["Location"]) == {"tab": "plans", "notice": "canceled"}
    page = dom(follow(api, canceled))
    assert "canceled at the end of the period" in page.by_id("notice").text
    notice = page.by_id("cancel-notice").text
    assert day_text(start + timedelta(days=30)) in notice and "credits stay usable" in notice
    assert page.by_id("resume-subscription").text == "Resume Subscription"
    assert page.find(id="cancel-subscription") is None
    assert subscription_row(engine)[0][4] is True

    resumed = act_signed(api, "resume")

    assert query_of(resumed.headers["Location"]) == {"tab": "plans", "notice": "resumed"}
    page = dom(follow(api, resumed))
    assert "continues" in page.by_id("notice").text
    assert page.find(id="resume-subscription") is None and page.find(id="cancel-notice") is None
    assert page.by_id("cancel-subscription").text == "Cancel Subscription"
    assert subscription_row(engine)[0][4] is False
    assert provider.calls == []  # a manual subscription has no provider to tell


def test_cancel_and_resume_of_a_stripe_subscription_tell_the_provider(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)

    assert act_signed(api, "cancel").status_code == 303
    assert act_signed(api, "resume").status_code == 303

    assert provider.calls == [("cancel", "sub_1"), ("resume", "sub_1")]


def test_cancel_without_a_subscription_is_an_error_on_the_page(api, provider):
    signed_in(api)

    response = act_signed(api, "cancel")

    assert response.status_code == 404
    assert dom(response).by_id("error").text
    assert provider.calls == []


# --- change of plan -----------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["starter", "pro"])
def test_an_upgrade_of_a_manual_subscription_waits_for_payment_with_a_notice(api, engine, provider, current):
    manual_subscription(engine, "acme", current, started_days_ago=2)
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "upgrade_pending"}
    page = dom(follow(api, response))
    assert "Upgrade recorded" in page.by_id("notice").text
    assert "An upgrade to business is waiting for its payment" in page.by_id("pending-upgrade").text
    assert provider.calls == []


def test_an_upgrade_of_a_stripe_subscription_is_charged_with_a_notice(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "upgrade_charged"}
    assert "charged to your saved payment method" in dom(follow(api, response)).by_id("notice").text
    [(kind, sub_id, plan, _amount, _key, success)] = provider.calls
    assert (kind, sub_id, plan) == ("upgrade", "sub_1", "business")
    assert query_of(success) == {"tab": "plans", "notice": "upgrade_pending"}


def test_an_upgrade_the_provider_wants_paid_on_its_page_sends_the_browser_there(api, engine, provider):
    subscribed_lately(engine, "stripe")
    provider.upgrade_checkout_url = "https://pay.test/upgrade/1"
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://pay.test/upgrade/1"


def test_a_downgrade_is_scheduled_for_the_period_end_and_the_page_says_so(api, engine, provider):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=4)
    signed_in(api)

    response = act_signed(api, "change", plan="starter", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "change_scheduled"}
    page = dom(follow(api, response))
    assert "changes at the end of the current period" in page.by_id("notice").text
    summary = page.by_id("current-subscription").text
    assert f"Changes to starter (monthly) on {day_text(start + timedelta(days=30))}" in summary
    assert page.by_id("current-plan").text == "Pro"  # still Pro until then
    assert subscription_row(engine)[0][1:6] == ("pro", "month", "active", False, "starter")
    assert provider.calls == []


def test_a_stripe_downgrade_is_rescheduled_at_the_provider(api, engine, provider):
    subscribed_lately(engine, "stripe", plan="business")
    signed_in(api)

    response = act_signed(api, "change", plan="pro", interval="month")

    assert query_of(response.headers["Location"])["notice"] == "change_scheduled"
    assert provider.calls == [("schedule", "sub_1", "pro", "month")]


# --- billing portal -----------------------------------------------------------------------------


def test_manage_billing_of_a_stripe_subscription_opens_the_portal(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)
    page = dom(get(api))
    assert page.by_id("manage-billing").text == "Manage Billing"

    response = act_signed(api, "portal")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://portal.test/s/1"
    [(kind, customer, return_url)] = provider.calls
    assert (kind, customer) == ("portal", "cus_1")
    assert urllib.parse.urlsplit(return_url).path == PAGE


def test_the_portal_through_the_stripe_adapter_returns_to_the_console(stripe_api, engine, fake):
    subscribed_lately(engine, "stripe")
    signed_in(stripe_api)

    response = act_signed(stripe_api, "portal")

    assert response.headers["Location"] == "https://billing.stripe.test/p/session/bps_1"
    [sent] = fake.requests
    assert sent.form == {"customer": "cus_1", "return_url": f"http://localhost{PAGE}?tab=plans"}


def test_manage_billing_of_a_manual_subscription_is_an_error_on_the_page(api, engine, provider):
    subscribe(engine, "acme", "pro")
    signed_in(api)
    assert dom(get(api)).find(id="manage-billing") is None

    response = act_signed(api, "portal")

    assert response.status_code == 409
    assert "portal" in dom(response).by_id("error").text
    assert provider.calls == []


# --- provider refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "form"),
    [("cancel", {}), ("portal", {}), ("change", {"plan": "business", "interval": "month"})],
)
def test_a_provider_refusal_shows_the_page_with_the_error_and_changes_nothing(
    api, engine, provider, action, form
):
    subscribed_lately(engine, "stripe")
    before = subscription_row(engine)
    ledger = ledger_count(engine)
    signed_in(api)
    provider.refuse = True

    response = act_signed(api, action, **form)

    assert response.status_code == 502
    page = dom(response)
    assert "declined" in page.by_id("error").text
    assert page.by_id("subscription-status").text == "active"
    assert page.find(id="cancel-notice") is None
    assert len(provider.calls) == 1
    assert ledger_count(engine) == ledger
    after = subscription_row(engine)
    if action != "change":
        assert after == before
    else:
        # Plan, interval, status and cancel flag stay; the upgrade's quote is kept on purpose so that a
        # retry is charged the same amount under the same idempotency key (see subscription_actions).
        assert after[0][1:7] == before[0][1:7]
        assert after[0][7] == "business"


def test_a_refusal_of_the_real_stripe_adapter_is_a_502_page_and_nothing_is_subscribed(
    stripe_api, engine, fake
):
    signed_in(stripe_api)
    fake.fail_with = 402

    response = act_signed(stripe_api, "checkout", plan="pro", interval="month", provider="stripe")

    assert response.status_code == 502
    assert dom(response).by_id("error").text
    assert STRIPE_KEY not in response.get_data(as_text=True)
    assert len(fake.requests) == 1
    assert subscription_row(engine) is None


def test_a_refused_cancel_at_stripe_keeps_the_subscription_running(stripe_api, engine, fake):
    subscribed_lately(engine, "stripe")
    before = subscription_row(engine)
    signed_in(stripe_api)
    fake.fail_with = 402

    response = act_signed(stripe_api, "cancel")

    assert response.status_code == 502
    assert dom(response).find(id="cancel-notice") is None
    assert subscription_row(engine) == before
