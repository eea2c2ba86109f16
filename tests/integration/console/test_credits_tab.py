"""The Credits tab: balance, allocation and use, the balance refresh, overdraft and expiring
grants, and the transaction history with its Load More pages (escaped, in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, text

from api.console.pages import HISTORY_PAGE
from tests.support.api import Api
from tests.support.console import (
    JSON,
    MORE,
    PAGE,
    day_text,
    get,
    signed_in,
)
from tests.support.dom import dom
from tests.support.ledger import create_org, debit, event, grant, setup_prices

# --- balance ------------------------------------------------------------------------------------


def test_the_credits_tab_shows_balance_remaining_allocated_and_used_without_alerts(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 200, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=50, at=now)], now=now)
    signed_in(api)

    response = get(api, f"{PAGE}?tab=credits")
    page = dom(response)

    assert page.by_id("tab-credits")["aria-selected"] == "true"
    assert not page.by_id("panel-credits").hidden and page.by_id("panel-plans").hidden
    assert page.by_id("balance-credits").text == "150.00"
    assert page.by_id("remaining-percent").text == "75.00%"
    assert page.by_id("balance-progress")["value"] == "75.00"
    assert page.by_id("allocated-credits").text == "200.00"
    assert page.by_id("used-credits").text == "50.00"
    assert page.find(id="overdraft") is None
    assert page.find(id="expiring-soon") is None


def test_the_balance_refresh_renders_the_current_balance_for_the_page_to_swap_in(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    signed_in(api)
    page = dom(get(api, f"{PAGE}?tab=credits"))
    refresh = page.by_id("refresh-balance")
    assert refresh["data-url"] == "/console/organizations/acme/balance"
    assert page.by_id("balance-summary").find(id="balance-credits").text == "100.00"

    debit(engine, [event("e1", "acme", output_tokens=130, at=now)], now=now)  # into overdraft
    answer = get(api, refresh["data-url"], headers=JSON)

    assert answer.status_code == 200 and answer.mimetype == "application/json"
    fragment = dom(answer.json["html"])
    assert fragment.by_id("balance-credits").text == "-30.00"
    assert fragment.by_id("used-credits").text == "130.00"
    assert fragment.by_id("overdraft").find("strong").text == "30.00"


def test_the_balance_refresh_needs_the_session_of_the_organization(api, engine):
    create_org(engine, "other")
    assert get(api, "/console/organizations/acme/balance").status_code == 401
    signed_in(api)
    refused = get(api, "/console/organizations/other/balance")
    assert refused.status_code == 404 and refused.mimetype == "application/json"


def test_the_credits_tab_shows_an_overdraft_only_when_there_is_one(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 10, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=15, at=now)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    assert page.by_id("balance-credits").text == "-5.00"
    assert page.by_id("remaining-percent").text == "0.00%"
    assert Decimal(page.by_id("balance-progress")["value"]) == 0  # never below the bar's minimum
    alert = page.by_id("overdraft")
    assert alert["role"] == "alert"
    assert alert.find("strong").text == "5.00"


def test_the_credits_tab_lists_only_grants_expiring_within_7_days(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", "30.5", "soon", at=now, expires_at=now + timedelta(days=3))
    grant(engine, "acme", 40, "later", at=now, expires_at=now + timedelta(days=10))
    grant(engine, "acme", 50, "never", at=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    items = page.by_id("expiring-soon").find_all("li")
    assert len(items) == 1
    assert items[0].find("strong").text == "30.50"
    assert day_text(now + timedelta(days=3)) in items[0].text
    assert page.by_id("balance-credits").text == "120.50"


# --- history ------------------------------------------------------------------------------------


def test_the_history_shows_the_newest_transactions_with_signed_amounts(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=3, at=now, agent="agent-7", user=None)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    rows = page.by_id("history-rows").find_all("tr")
    assert [r.find_all("td")[3].text for r in rows] == ["-3.00", "+100.00"]
    assert rows[0].find_all("td")[1].text == "agent-7"
    assert rows[0].find_all("td")[2].text == "usage"
    assert page.by_id("load-more").hidden
    assert page.find(id="history-empty") is None


def test_an_organization_without_transactions_says_so(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    assert page.by_id("history-rows").find_all("tr") == []
    assert page.by_id("history-empty").text == "No transactions yet."
    assert page.by_id("load-more").hidden


def test_history_text_from_events_is_escaped(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    hostile = '<img src=x onerror="alert(1)">'
    debit(engine, [event("e1", "acme", at=now, agent=hostile, user=None)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))
    more = get(api, f"{MORE}?cursor=dDE6OTk5OTk", headers=JSON)  # rows older than id 99999: all of them

    assert page.find_all("img") == []
    assert page.by_id("history-rows").find_all("tr")[0].find_all("td")[1].text == hostile
    assert dom(more.json["rows_html"]).find_all("img") == []
    assert more.json["rows"] == 2


def test_times_and_days_are_utc_even_when_the_database_session_is_not(database_url, engine):
    """The ledger's instants come back in the session's time zone; the console says "UTC"."""
    setup_prices(engine)
    create_org(engine, "acme")
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    local = create_engine(database_url, connect_args={"options": "-c TimeZone=America/Guatemala"})
    try:
        api = Api(database_url, local, payments={})
        signed_in(api)
        page = dom(get(api, f"{PAGE}?tab=usage"))
    finally:
        local.dispose()

    stamp = page.by_id("history-rows").find("time")
    instant = datetime.fromisoformat(stamp["datetime"]).astimezone(UTC)
    assert stamp.text == f"{day_text(instant)} {instant:%H:%M} UTC"
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert page.by_id("panel-usage").find("p").text.startswith(f"{day_text(month_start)} –")
    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    assert bars[0]["data-day"] == month_start.date().isoformat()
    assert len(bars) == now.day


# --- Load More ----------------------------------------------------------------------------------


def test_load_more_follows_the_cursor_through_every_transaction_once_newest_first(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 1000, "seed", at=now)
    debit(engine, [event(f"e{i}", "acme", output_tokens=1, at=now) for i in range(46)], now=now)
    with engine.connect() as c:
        ids = [r for (r,) in c.execute(text("SELECT id FROM credit_transactions ORDER BY id DESC"))]
    assert len(ids) == 47
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))
    seen = [int(r["data-transaction-id"]) for r in page.find_all("tr") if "data-transaction-id" in r.attrs]
    assert len(seen) == HISTORY_PAGE == 20
    button = page.by_id("load-more")
    assert not button.hidden
    assert button["data-url"] == MORE
    cursor = button["data-next-cursor"]
    pages = 0
    has_more = True
    while has_more:
        response = get(api, f"{MORE}?cursor={cursor}", headers=JSON)
        assert response.status_code == 200
        body = response.json
        rows = dom(body["rows_html"]).find_all("tr")
        assert body["rows"] == len(rows) > 0
        seen += [int(r["data-transaction-id"]) for r in rows]
        has_more, cursor = body["has_more"], body["next_cursor"]
        assert (cursor is None) == (not has_more)
        pages += 1
    assert seen == ids  # each row once, newest first
    assert pages == 2  # 20 + 20 + 7
    assert response.headers["Cache-Control"] == "no-store"


def test_load_more_with_a_bad_cursor_is_a_400_json_error(api):
    signed_in(api)

    for cursor in ("", "not-a-cursor", "dDE6LTE", "dDI6MTA"):  # empty, junk, t1:-1, t2:10
        response = get(api, f"{MORE}?cursor={cursor}", headers=JSON)
        assert response.status_code == 400, cursor
        assert response.json["error"]["type"] == "validation_error"
        assert "cursor" in response.json["error"]["message"]
