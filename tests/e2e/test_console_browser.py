"""The billing console in a real browser (headless Chromium): signing in, the three tabs by mouse
and keyboard, the Monthly/Yearly toggle, "Load More" to the end of the history, the usage chart,
cancelling with a confirmation, a balance that moves when events are processed, and a phone-width
screen. Stripe and Recurrente are the local fake; the real adapters call it. Every test leaves
screenshots under artifacts/console-screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, text

from api.app import create_app
from api.console import formatting
from billing_cli.api_commands import start_server
from billing_core.access.api_keys import create_api_key
from billing_core.queries.balance import balance_view
from billing_core.settings import Settings
from producers import MessageCompleted, Publisher
from tests.e2e.browser import accessibility_violations, chromium, screenshot_path  # noqa: F401  (a fixture)
from tests.support.api import ADMIN, manual_subscription
from tests.support.ledger import committed, create_org, debit, event, grant, setup_prices
from tests.support.pipeline import scalar, wait_until
from tests.support.providers import FakeProviders, fake_providers
from tests.support.purchases import (
    auto_recharge,
    checkout_completed,
    deliver,
    open_purchase,
    process,
    with_packs,
)
from tests.support.servers import BROKER_URL
from tests.support.subscriptions import subscribed_lately, with_stripe_prices

ORG_PAGE = "/console/organizations/acme/subscription"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with fake_providers() as server:
        yield server


@pytest.fixture
def console(database_url: str, engine: Engine, fake: FakeProviders) -> Iterator[str]:
    """The API app (and so the console) served over HTTP by waitress, as `billing up` serves it."""
    setup_prices(engine)
    with_stripe_prices(engine)
    create_org(engine, "acme")
    settings = Settings(
        database_url=database_url,
        admin_token=ADMIN,
        stripe_api_key="sk_test_console",
        stripe_api_base=fake.url,
        recurrente_public_key="pk_test_console",
        recurrente_secret_key="sk_test_console_rec",
        recurrente_api_base=f"{fake.url}/api",
    )
    server = start_server(create_app(settings, engine), host="127.0.0.1", port=0)
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def page(chromium: Browser, console: str) -> Iterator[Page]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def new_key(engine: Engine, org: str = "acme") -> str:
    made = committed(engine, lambda c: create_api_key(c, org, "console", datetime.now(UTC)))
    return str(made.secret)


def sign_in(page: Page, console: str, token: str, organization: str = "") -> None:
    page.goto(f"{console}/console/sign-in")
    page.get_by_label("API key, admin key or admin token").fill(token)
    if organization:
        page.get_by_label("Organization").fill(organization)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{ORG_PAGE}")


def plans(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT code, monthly_price_cents, currency FROM plans ORDER BY code"))
        return [{"code": r[0], "monthly": r[1], "currency": r[2]} for r in rows]


def test_sign_in_keeps_a_session_id_in_an_http_only_cookie_never_the_key_nor_the_url(page, console, engine):
    key = new_key(engine)
    sign_in(page, console, key)

    assert key not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "billing_console")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
        True,
        True,
        "Lax",
        "/console",
    )
    assert cookie["value"] != key and key not in str(page.context.cookies())  # a session id only
    assert "billing_console" not in page.evaluate("document.cookie")
    expect(page.locator("#organization-id")).to_have_text("acme")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in")
    page.goto(f"{console}{ORG_PAGE}")
    expect(page.get_by_role("alert")).to_contain_text("Please sign in")
    page.context.add_cookies([{**cookie, "sameSite": "Lax"}])  # the cookie copied before signing out
    page.goto(f"{console}{ORG_PAGE}")
    expect(page.get_by_role("alert")).to_contain_text("Please sign in")


def test_a_wrong_key_is_refused_with_a_message(page, console):
    page.goto(f"{console}/console/sign-in")
    page.get_by_label("API key, admin key or admin token").fill("sk_live_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert not [c for c in page.context.cookies() if c["name"] == "billing_console"]


def test_tabs_switch_by_mouse_and_keyboard(page, console, engine):
    sign_in(page, console, new_key(engine))
    panels = {name: page.locator(f"#panel-{name}") for name in ("plans", "credits", "usage")}

    def shown(name: str) -> None:
        expect(page.get_by_role("tab", name=name.capitalize())).to_have_attribute("aria-selected", "true")
        for other, panel in panels.items():
            (expect(panel).to_be_visible if other == name else expect(panel).to_be_hidden)()

    shown("plans")
    page.get_by_role("tab", name="Credits").click()
    shown("credits")
    assert "tab=credits" in page.url

    page.get_by_role("tab", name="Credits").focus()
    page.keyboard.press("ArrowRight")
    shown("usage")
    expect(page.get_by_role("tab", name="Usage")).to_be_focused()
    page.keyboard.press("ArrowRight")  # wraps around
    shown("plans")
    page.keyboard.press("End")
    shown("usage")
    page.keyboard.press("Home")
    shown("plans")


def test_yearly_toggle_shows_the_yearly_prices_and_subscribes_yearly_at_the_provider(
    page, console, engine, fake
):
    grant(engine, "acme", 250, "welcome")
    sign_in(page, console, new_key(engine))
    paid = [p for p in plans(engine) if p["monthly"] > 0]
    assert paid

    def prices_shown() -> dict[str, str]:
        shown = {}
        for p in paid:
            amounts = page.locator(f'article[data-plan="{p["code"]}"] .price .amount')
            visible = [a for a in amounts.all() if a.is_visible()]
            assert len(visible) == 1, p["code"]
            shown[p["code"]] = visible[0].inner_text()
        return shown

    assert prices_shown() == {p["code"]: formatting.money(p["monthly"], p["currency"]) for p in paid}
    page.screenshot(path=screenshot_path("plans-monthly"), full_page=True)

    page.get_by_text("Yearly").click()
    # 20% off twelve months: the yearly price is 9.6 monthly prices.
    yearly = {p["code"]: formatting.money(p["monthly"] * 12 * 8 // 10, p["currency"]) for p in paid}
    assert prices_shown() == yearly
    assert "interval=year" in page.url
    page.screenshot(path=screenshot_path("plans-yearly"), full_page=True)

    # The browser is sent on to the provider's checkout page (the fake's URL, which does not resolve
    # here: the request the browser makes for it is what counts).
    page.get_by_label("Pay with").select_option("stripe")
    with page.expect_request("https://checkout.stripe.test/**") as went:
        page.locator('article[data-plan="pro"]').get_by_role("button", name="Subscribe").click()
    assert went.value.url == "https://checkout.stripe.test/c/pay/cs_test_1"
    checkout = next(r for r in fake.requests if r.path == "/v1/checkout/sessions")
    assert checkout.form["line_items[0][price]"] == "price_pro_y"
    assert checkout.form["client_reference_id"] == "acme"
    assert urlsplit(checkout.form["success_url"]).path == ORG_PAGE


def test_load_more_walks_the_whole_history_without_a_duplicate(page, console, engine):
    grant(engine, "acme", 10_000, "seed")
    now = datetime.now(UTC)
    debit(engine, [event(f"msg-{i}", "acme", output_tokens=1 + i % 5, at=now) for i in range(56)], now=now)
    with engine.connect() as c:
        expected = [
            r[0]
            for r in c.execute(
                text("SELECT id FROM credit_transactions WHERE organization_id = 'acme' ORDER BY id DESC")
            )
        ]
    assert len(expected) == 57
    sign_in(page, console, new_key(engine))
    page.get_by_role("tab", name="Credits").click()
    page.screenshot(path=screenshot_path("credits"), full_page=True)

    load_more = page.get_by_role("button", name="Load More")
    clicks = 0
    while load_more.is_visible():
        before = page.locator("#history-rows tr").count()
        load_more.click()
        expect(page.locator("#history-rows tr")).not_to_have_count(before)
        clicks += 1
        assert clicks < 10
    expect(page.locator("#history-status")).to_have_text("That is the whole history.")

    shown = [
        int(v)
        for v in page.locator("#history-rows tr").evaluate_all(
            "rows => rows.map(r => r.dataset.transactionId)"
        )
    ]
    assert shown == expected  # every row once, newest first
    assert clicks == 2  # 20 + 20 + 17
    page.screenshot(path=screenshot_path("credits-history-exhausted"), full_page=True)


def test_the_usage_chart_has_a_bar_for_every_day_of_the_period_so_far(page, console, engine):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=9)
    grant(engine, "acme", 5_000, "seed", at=start)
    now = datetime.now(UTC)
    first_midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [first_midnight + timedelta(days=d, hours=12) for d in (0, 3, 7, 9)]  # noon of 4 of the days
    debit(
        engine,
        [event(f"u{i}", "acme", output_tokens=10 * (i + 1), at=day) for i, day in enumerate(days)],
        now=now,
    )
    debit(
        engine,
        [event("g1", "acme", model="gpt-4o", input_tokens=4000, output_tokens=2000, at=days[-1])],
        now=now,
    )

    sign_in(page, console, new_key(engine))
    page.get_by_role("tab", name="Usage").click()
    bars = page.locator("#usage-chart rect.bar")
    expect(bars).to_have_count(10)  # the period started 9 days ago: that day through today
    drawn = bars.evaluate_all("bars => bars.map(b => [b.dataset.day, b.getBBox().height])")
    assert [d for d, _ in drawn] == [(start + timedelta(days=i)).date().isoformat() for i in range(10)]
    tall = {d for d, height in drawn if height > 0}
    assert tall == {day.date().isoformat() for day in days}
    expect(page.locator("#models tbody tr")).to_have_count(2)
    expect(page.locator('#models tr[data-model="unit-model"] td').first).to_have_text("100.00")
    expect(page.locator("#run-out-date")).to_be_visible()
    expect(page.locator("#plan-lasts")).to_be_visible()
    page.screenshot(path=screenshot_path("usage"), full_page=True)


def test_cancel_asks_for_confirmation_and_explains_credits_stay_usable(page, console, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    sign_in(page, console, new_key(engine))
    page.get_by_role("link", name="Cancel Subscription").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("credits stay usable until then")
    expect(dialog).to_be_focused()
    page.screenshot(path=screenshot_path("plans-cancel-confirmation"), full_page=True)

    dialog.get_by_role("button", name="Yes, cancel at period end").click()
    expect(page.get_by_role("status").first).to_contain_text("canceled at the end of the period")
    expect(page.locator("#cancel-notice")).to_contain_text("credits stay usable")
    with engine.connect() as c:
        assert c.execute(text("SELECT cancel_at_period_end FROM subscriptions")).scalar_one() is True

    page.get_by_role("button", name="Resume Subscription").click()
    expect(page.locator("#notice")).to_contain_text("continues")
    with engine.connect() as c:
        assert c.execute(text("SELECT cancel_at_period_end FROM subscriptions")).scalar_one() is False


def test_the_balance_changes_after_the_workers_process_events(
    page, console, engine, workers, pipeline_settings
):
    grant(engine, "acme", 100, "seed")
    sign_in(page, console, new_key(engine))
    page.get_by_role("tab", name="Credits").click()
    expect(page.locator("#balance-credits")).to_have_text("100.00")

    events = [
        MessageCompleted(
            event_id=f"browser-{i}",
            organization_id="acme",
            agent_id="a1",
            user_id="u-7",
            model="unit-model",
            input_tokens=0,
            output_tokens=3,
        )
        for i in range(5)
    ]
    with Publisher(BROKER_URL, queue_prefix=pipeline_settings.queue_prefix) as publisher:
        publisher.publish_many(events)
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'") == 5)

    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#refresh-status")).to_contain_text("Updated at")
    with engine.connect() as c:
        balance = balance_view(c, "acme", datetime.now(UTC)).balance
    assert balance == 85_000_000
    expect(page.locator("#balance-credits")).to_have_text("85.00")
    expect(page.locator("#used-credits")).to_have_text("15.00")
    assert page.evaluate("window.notReloaded") is True  # updated in place, the page was not reloaded
    page.reload()
    expect(page.locator("#history-rows tr").first).to_contain_text("u-7")
    page.screenshot(path=screenshot_path("credits-after-events"), full_page=True)


def test_every_tab_fits_a_phone_screen_and_loads_nothing_from_elsewhere(chromium, console, engine):  # noqa: F811
    manual_subscription(engine, "acme", "pro", started_days_ago=5)
    grant(engine, "acme", 1_000, "seed")
    debit(engine, [event("p1", "acme", output_tokens=40, at=datetime.now(UTC))], now=datetime.now(UTC))
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    origins = set()
    phone.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    try:
        sign_in(phone, console, new_key(engine))
        for tab in ("Plans", "Credits", "Usage"):
            phone.get_by_role("tab", name=tab).click()
            overflow = phone.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{tab} is wider than the screen by {overflow}px"
            phone.screenshot(path=screenshot_path(f"phone-{tab.lower()}"), full_page=True)
    finally:
        context.close()
    assert origins == {console}


def test_the_api_docs_page_renders_offline_from_the_apps_own_files(page, console):
    origins = set()
    page.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    page.goto(f"{console}/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() >= 20  # every operation of the API
    assert origins == {console}


def test_axe_finds_no_accessibility_violation_on_any_tab_or_the_sign_in_page(chromium, console, engine):  # noqa: F811
    # The checker is injected as a script, which the console's CSP rightly refuses: bypass it here.
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    manual_subscription(engine, "acme", "pro", started_days_ago=4)
    grant(engine, "acme", 1_000, "seed")
    now = datetime.now(UTC)
    debit(engine, [event(f"a{i}", "acme", output_tokens=5, at=now) for i in range(25)], now=now)
    with_packs(engine)  # the Credits tab's packs, a paid purchase and the auto-recharge form
    bought = open_purchase(engine, "acme")
    process(engine, deliver(engine, "stripe", "paid", checkout_completed(bought, event_id="paid")), now)
    auto_recharge(engine, "acme")

    page.goto(f"{console}/console/sign-in")
    assert accessibility_violations(page) == []
    sign_in(page, console, new_key(engine))
    for tab in ("Plans", "Credits", "Usage"):
        page.get_by_role("tab", name=tab).click()
        assert accessibility_violations(page) == [], tab
    page.goto(f"{console}{ORG_PAGE}?tab=plans&confirm=cancel")
    assert accessibility_violations(page) == []
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console, ADMIN, "acme")  # the admin's page has the "open organization" form
    expect(page.get_by_label("Open organization")).to_be_visible()
    assert accessibility_violations(page) == []
    context.close()


def test_buy_credits_goes_to_the_stripe_checkout_of_the_chosen_pack(page, console, engine, fake):
    with_packs(engine)
    sign_in(page, console, new_key(engine))
    page.get_by_role("tab", name="Credits").click()
    pack = page.locator('article[data-pack="large"]')
    page.screenshot(path=screenshot_path("credits-buy"), full_page=True)
    pack.get_by_label("Pay with").select_option("stripe")
    # The fake's checkout host does not resolve here: the browser's attempt to go there is what counts.
    with page.expect_request("https://checkout.stripe.test/**") as went:
        pack.get_by_role("button", name="Buy Large pack: 1,000.00 credits for $80.00").click()
    assert went.value.url.startswith("https://checkout.stripe.test/c/pay/cs_test_")
    [sent] = [r for r in fake.requests if r.path == "/v1/checkout/sessions"]
    assert (sent.form["mode"], sent.form["metadata[pack]"]) == ("payment", "large")
    assert urlsplit(sent.form["success_url"]).path == ORG_PAGE


def test_manage_billing_opens_the_stripe_portal_and_upgrade_is_charged_at_stripe(page, console, engine, fake):
    subscribed_lately(engine, "stripe", plan="pro", days_ago=10)
    sign_in(page, console, new_key(engine))
    expect(page.locator("#current-plan")).to_have_text("Pro")

    # The fake's portal host does not resolve here: the browser's attempt to go there is what counts.
    with page.expect_request("https://billing.stripe.test/**") as went:
        page.get_by_role("button", name="Manage Billing").click()
    assert went.value.url == "https://billing.stripe.test/p/session/bps_1"
    portal = next(r for r in fake.requests if r.path == "/v1/billing_portal/sessions")
    assert portal.form["customer"] == "cus_1"
    assert urlsplit(portal.form["return_url"]).path == ORG_PAGE

    page = page.context.new_page()  # the first one is busy failing to reach the fake's portal host
    page.goto(f"{console}{ORG_PAGE}")
    page.locator('article[data-plan="business"]').get_by_role("button", name="Upgrade").click()
    expect(page.locator("#notice")).to_contain_text("Upgraded")
    assert [r.path for r in fake.requests if r.method == "POST" and r.path.startswith("/v1/subscriptions/")]
    expect(page.locator("#pending-upgrade")).to_contain_text("business")  # until Stripe reports the payment
