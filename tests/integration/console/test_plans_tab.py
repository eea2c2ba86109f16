"""The Plans tab: every plan of the table with its terms and prices, what each card offers for the
organization's subscription, the monthly/yearly toggle, and the choice of payment provider."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_core.plans.catalog import set_plan
from billing_core.plans.plans import list_plans
from tests.support.api import Api, manual_subscription, subscribe
from tests.support.console import (
    PAGE,
    csrf_of,
    get,
    signed_in,
)
from tests.support.dom import Node, dom
from tests.support.ledger import committed, create_org
from tests.support.providers import RecordingProvider


def _plan_facts(article: Node) -> dict[str, str]:
    return {div.find("dt").text: div.find("dd").text for div in article.find_all("div")}


def _usd(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def test_the_plans_tab_lists_every_plan_of_the_table_with_its_terms_and_prices(api, engine):
    committed(
        engine,
        lambda c: set_plan(
            c,
            "team",
            datetime(2026, 1, 1, tzinfo=UTC),
            credits_per_month=2_500_500_000,
            monthly_price_cents=1_234,
        ),
    )
    with engine.connect() as c:
        plans = list_plans(c)
    signed_in(api)

    page = dom(get(api))

    articles = page.by_id("plans").find_all("article")
    assert [a["data-plan"] for a in articles] == [p.code for p in plans]
    assert {p.code for p in plans} == {"free", "starter", "pro", "team", "business"}
    expected = {
        "free": ("0.00", "1", "1", "Basic", "Standard", None, None),
        "starter": ("500.00", "1", "3", "Basic", "Standard", "$10.00", "$96.00"),
        "pro": ("1,000.00", "3", "10", "Full", "Standard", "$20.00", "$192.00"),
        "team": ("2,500.50", "1", "1", "Basic", "Standard", "$12.34", "$118.46"),  # 11,846.4 cents
        "business": ("5,000.00", "10", "50", "Enterprise", "Priority", "$99.00", "$950.40"),
    }
    for plan, article in zip(plans, articles, strict=True):
        credits, orgs, agents, access, support, monthly, yearly = expected[plan.code]
        assert article.by_id(f"plan-{plan.code}-name").text == plan.name
        assert _plan_facts(article) == {
            "Credits per month": credits,
            "Max organizations": orgs,
            "Max agents per organization": agents,
            "API access": access,
            "Support": support,
        }
        if monthly is None:
            assert article.find("p", class_="price").text == "Free"
            continue
        month = article.find("span", class_="price-month")
        year = article.find("span", class_="price-year")
        assert month.text == f"{monthly} / month"
        assert year.text.startswith(f"{yearly} / year")
        assert year.find("span", class_="amount")["data-price-cents"] == str(plan.yearly_price_cents)
        assert f"{_usd(plan.monthly_price_cents * 12)} save 20.0%" in year.text


def _buttons(page: Node) -> dict[str, str]:
    """What each plan card offers: its badge, else the label of its form's button, else ''."""
    out = {}
    for article in page.by_id("plans").find_all("article"):
        badges = [p for p in article.find_all("p") if "current-badge" in p.get("class", "")]
        forms = article.find_all("form")
        button = forms[0].find("button").text if forms else ""
        out[article["data-plan"]] = badges[0].text if badges else button
    return out


def test_without_a_subscription_paid_plans_offer_subscribe_and_free_is_current(api):
    signed_in(api)

    page = dom(get(api))

    assert _buttons(page) == {
        "free": "Current plan",
        "starter": "Subscribe",
        "pro": "Subscribe",
        "business": "Subscribe",
    }
    assert "free" in page.find("article", class_="plan current")["data-plan"]
    form = page.find("article", data_plan="business").find("form")
    assert form["action"] == "/console/organizations/acme/subscription/checkout"
    assert {i["name"]: i["value"] for i in form.find_all("input")} == {
        "csrf": csrf_of(get(api)),
        "plan": "business",
        "interval": "month",
        "provider": "stripe",
    }


def test_a_subscribed_organization_sees_current_plan_upgrade_and_change_plan(api, engine):
    subscribe(engine, "acme", "pro")
    signed_in(api)

    page = dom(get(api))

    assert _buttons(page) == {
        "free": "",
        "starter": "Change plan",
        "pro": "Current plan",
        "business": "Upgrade",
    }
    assert page.by_id("current-plan").text == "Pro"
    pro = page.find("article", data_plan="pro")
    switch = pro.find("form")
    assert switch["action"].endswith("/subscription/change")
    assert {i["name"]: i["value"] for i in switch.find_all("input")}["interval"] == "year"
    for code in ("starter", "business"):
        form = page.find("article", data_plan=code).find("form")
        assert form["action"] == "/console/organizations/acme/subscription/change"
        assert "provider" not in {i["name"] for i in form.find_all("input")}


def test_the_interval_parameter_sets_the_toggle_and_every_plan_form(api, engine):
    signed_in(api)

    monthly, yearly = dom(get(api)), dom(get(api, f"{PAGE}?interval=year"))
    bogus = dom(get(api, f"{PAGE}?interval=fortnight"))

    assert monthly.by_id("plans")["data-interval"] == "month"
    assert yearly.by_id("plans")["data-interval"] == "year"
    assert bogus.by_id("plans")["data-interval"] == "month"
    assert "checked" in yearly.by_id("interval-year").attrs
    assert "checked" not in yearly.by_id("interval-month").attrs
    intervals = {i["value"] for i in yearly.find_all("input", class_="interval-input")}
    assert intervals == {"year"}


def test_a_yearly_subscription_shows_the_yearly_interval_by_default(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=5, length_days=365, interval="year")
    signed_in(api)

    page = dom(get(api))

    assert page.by_id("plans")["data-interval"] == "year"
    assert "billed yearly" in page.by_id("current-subscription").text


def test_with_several_providers_the_page_offers_a_choice_and_with_none_it_says_so(database_url, engine):
    create_org(engine, "acme")
    several = Api(database_url, engine, payments={"stripe": RecordingProvider(), "recurrente": object()})
    none = Api(database_url, engine, payments={})
    signed_in(several)
    signed_in(none)

    choice = dom(get(several)).by_id("provider-choice")
    nothing = dom(get(none))

    assert [o["value"] for o in choice.find_all("option")] == ["stripe", "recurrente"]  # Stripe first
    assert [o.text for o in choice.find_all("option")] == ["Stripe", "Recurrente (Latin America)"]
    assert "cannot be bought here" in nothing.by_id("no-provider").text
    assert nothing.by_id("plans").find_all("form") == []
