"""The Credits tab's purchases: "Buy credits" with the packs (to the provider's checkout), the
auto-recharge setting, and purchases in the history; a refusal shows the page with the reason and
changes nothing."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

from sqlalchemy import text

from billing_core.purchases.recharges import get_settings
from tests.support.console import PAGE, csrf_of, follow, get, query_of, signed_in
from tests.support.dom import dom
from tests.support.purchases import checkout_completed, deliver, process, purchase, with_packs

CREDITS = f"{PAGE}?tab=credits"
BUY = "/console/organizations/acme/purchases/checkout"
RECHARGE = "/console/organizations/acme/auto-recharge"


def post(api, path: str, **form: str):  # type: ignore[no-untyped-def]
    return api.client.post(path, data={"csrf": csrf_of(get(api, CREDITS)), **form})


def test_buy_credits_lists_the_packs_and_sends_the_browser_to_the_providers_checkout(api, engine, provider):
    with_packs(engine)
    signed_in(api)
    page = dom(get(api, CREDITS))
    cards = page.by_id("packs").find_all("article")
    assert [c["data-pack"] for c in cards] == ["small", "large"]
    large = page.find("article", data_pack="large")
    assert "$80.00" in large.text and "1,000.00" in large.text and "365 days after payment" in large.text
    fields = {i["name"]: i["value"] for i in large.find("form").find_all("input")}
    assert (fields["pack"], fields["provider"]) == ("large", "stripe")

    response = api.client.post(BUY, data=fields)

    assert response.status_code == 303
    [(kind, org, pack, purchase_id, key)] = provider.calls
    assert (kind, org, pack) == ("pack_checkout", "acme", "large") and key.startswith("checkout:")
    assert response.headers["Location"] == f"https://pay.test/p/{purchase_id}"
    assert purchase(engine, purchase_id).status == "pending"  # no credits before the provider says paid
    done = dom(get(api, f"{CREDITS}&notice=purchase_done"))
    assert "credits arrive" in done.by_id("notice").text


def test_a_paid_purchase_shows_in_the_purchases_and_in_the_transaction_history(api, engine):
    with_packs(engine)
    signed_in(api)
    response = post(api, BUY, pack="small", provider="stripe")
    purchase_id = int(urllib.parse.urlsplit(response.headers["Location"]).path.rsplit("/", 1)[1])
    paid = checkout_completed(purchase(engine, purchase_id), event_id="paid")
    process(engine, deliver(engine, "stripe", "paid", paid), datetime.now(UTC))

    page = dom(get(api, CREDITS))
    row = page.by_id("purchases").find("tr", data_purchase_id=str(purchase_id))
    assert "small" in row.text and "Paid" in row.text and "$10.00" in row.text
    history = page.by_id("history-rows").find_all("tr")
    assert "purchase" in history[0].text and "+100.00" in history[0].text
    assert page.by_id("balance-credits").text == "100.00"


def test_the_auto_recharge_setting_is_saved_and_shown_and_bad_values_change_nothing(api, engine):
    with_packs(engine)
    signed_in(api)
    page = dom(get(api, CREDITS))
    assert page.by_id("auto-recharge-state").text == "Off"
    assert page.find(id="no-saved-card") is not None

    refused = post(api, RECHARGE, enabled="on", threshold="20", pack="small", monthly_cap="12.345")
    assert refused.status_code == 400
    assert "monthly_cap" in dom(refused).by_id("error").text
    below_price = post(api, RECHARGE, enabled="on", threshold="20", pack="small", monthly_cap="5")
    assert below_price.status_code == 400 and "below the price" in dom(below_price).by_id("error").text
    with engine.connect() as c:
        assert get_settings(c, "acme") is None

    saved = post(api, RECHARGE, enabled="on", threshold="20.5", pack="large", monthly_cap="160")
    assert saved.status_code == 303 and query_of(saved.headers["Location"])["notice"] == "auto_recharge_on"
    page = dom(follow(api, saved))
    assert page.by_id("auto-recharge-state").text == "On"
    assert "20.50" in page.by_id("auto-recharge").text and "$160.00" in page.by_id("auto-recharge").text
    assert page.by_id("recharge-threshold")["value"] == "20.50"
    assert page.by_id("recharge-cap")["value"] == "160.00"
    with engine.connect() as c:
        settings = get_settings(c, "acme")
        threshold = c.execute(text("SELECT recharge_threshold FROM balances WHERE organization_id = 'acme'"))
        assert threshold.scalar() == 20_500_000
    assert settings is not None and (settings.pack_code, settings.monthly_cap_cents) == ("large", 16_000)

    off = post(api, RECHARGE, threshold="20.5", pack="large", monthly_cap="160")  # the box unticked
    assert dom(follow(api, off)).by_id("auto-recharge-state").text == "Off"


def test_the_purchase_forms_need_the_pages_csrf_token(api, engine, provider):
    with_packs(engine)
    signed_in(api)
    assert api.client.post(BUY, data={"pack": "small", "provider": "stripe"}).status_code == 403
    assert api.client.post(RECHARGE, data={"enabled": "on"}).status_code == 403
    assert provider.calls == []
