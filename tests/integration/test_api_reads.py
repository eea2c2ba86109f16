"""What an organization reads over HTTP: balance, history, daily usage with forecast, metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from billing_core.queries.balance import balance_view
from tests.support.api import Api, error_of, subscribe
from tests.support.ledger import cr, create_org, debit, event, grant, refund, setup_prices


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine)


def day_start(days_ago: int) -> datetime:
    """One second past midnight (UTC), `days_ago` days before today: always in the past."""
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=days_ago), time(0, 0, 1), tzinfo=UTC)


def test_an_organization_with_100_credits_that_used_5_reads_its_balance_as_exact_decimals(api, engine):
    now = datetime.now(UTC)
    grant(api.engine, "acme", 100, "g1", at=now - timedelta(hours=1), expires_at=now + timedelta(days=3))
    debit(
        engine,
        [event("e1", "acme", output_tokens=2, at=now), event("e2", "acme", output_tokens=3, at=now)],
        now=now,
    )

    body = api.get("/v1/organizations/acme/balance").json

    assert body["balance"] == "95.000000"
    assert body["allocated"] == "100.000000"
    assert body["used"] == "5.000000"
    assert body["remaining_percent"] == "95.00"
    assert body["overdraft"] == "0.000000"
    assert [(g["source"], g["remaining"]) for g in body["expiring_soon"]] == [("bonus", "95.000000")]
    assert body["as_of"] and body["period_start"] < body["period_end"]


def test_the_balance_of_an_unknown_organization_is_a_404_in_the_json_error_shape(api):
    response = api.get("/v1/organizations/nobody/balance")
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found"


def test_history_is_newest_first_with_usage_details_and_filters(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 10, "g1", at=now - timedelta(hours=1))
    debit(
        engine,
        [
            event("e1", "acme", model="gpt-4o", input_tokens=1000, output_tokens=100, at=now, user="ana"),
            event("e2", "acme", output_tokens=1, tools={"web_search": 2}, at=now, user="bo", agent="a2"),
        ],
        now=now,
    )
    page = api.get("/v1/organizations/acme/transactions").json

    assert [row["type"] for row in page["data"]] == ["usage", "usage", "bonus"]
    assert page["has_more"] is False and page["next_cursor"] is None
    ids = [row["id"] for row in page["data"]]
    assert ids == sorted(ids, reverse=True)
    gpt = next(row for row in page["data"] if row["model"] == "gpt-4o")
    assert gpt["amount"] == "-0.350000"  # 1000 × 250 + 100 × 1000 micro-credits
    assert (gpt["input_tokens"], gpt["output_tokens"], gpt["user_id"]) == (1000, 100, "ana")
    assert gpt["reference"] == {"type": "event", "id": "e1"} and gpt["price_version"] is not None
    bonus = page["data"][-1]
    assert (bonus["amount"], bonus["balance_after"], bonus["model"]) == ("10.000000", "10.000000", None)

    by_user = api.get("/v1/organizations/acme/transactions?user_id=bo").json["data"]
    assert [(r["event_id"], r["tools"], r["agent_id"]) for r in by_user] == [("e2", {"web_search": 2}, "a2")]
    grants_only = api.get("/v1/organizations/acme/transactions?type=bonus").json["data"]
    assert [r["type"] for r in grants_only] == ["bonus"]
    assert api.get("/v1/organizations/acme/transactions?agent_id=a2").json["data"][0]["event_id"] == "e2"


def test_pages_follow_the_opaque_cursor_and_a_garbage_cursor_is_a_400_naming_it(api, engine):
    for i in range(5):
        grant(engine, "acme", 1, f"g{i}")
    first = api.get("/v1/organizations/acme/transactions?limit=2").json
    second = api.get(f"/v1/organizations/acme/transactions?limit=2&cursor={first['next_cursor']}").json
    third = api.get(f"/v1/organizations/acme/transactions?limit=2&cursor={second['next_cursor']}").json
    ids = [r["id"] for page in (first, second, third) for r in page["data"]]
    assert len(ids) == len(set(ids)) == 5 and ids == sorted(ids, reverse=True)
    assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)
    assert not first["next_cursor"].isdigit()

    for garbage in ("abc", "!!!", "dDE6LTE", "MTIz"):
        response = api.get(f"/v1/organizations/acme/transactions?cursor={garbage}")
        assert response.status_code == 400, garbage
        assert error_of(response)["field"] == "cursor"
    response = api.get("/v1/organizations/acme/transactions?limit=0")
    assert response.status_code == 400 and error_of(response)["field"] == "limit"


def test_daily_usage_nets_refunds_and_forecasts_the_run_out_date_from_the_last_7_days(api, engine):
    grant(engine, "acme", 1000, "g1", at=day_start(30))
    debit(engine, [event("today", "acme", output_tokens=14, at=day_start(0))], now=day_start(0))
    debit(engine, [event("d3", "acme", output_tokens=7, at=day_start(3))], now=day_start(3))
    debit(engine, [event("d3-failed", "acme", output_tokens=5, at=day_start(3))], now=day_start(3))
    refund(engine, "d3-failed", now=day_start(2))
    debit(
        engine, [event("d9", "acme", output_tokens=21, model="unit-model", at=day_start(9))], now=day_start(9)
    )

    body = api.get("/v1/organizations/acme/usage").json

    today = datetime.now(UTC).date()
    assert body["to"] == today.isoformat() and body["from"] == (today - timedelta(days=30)).isoformat()
    assert len(body["days"]) == 31
    days = {d["date"]: d for d in body["days"]}
    d3 = days[(today - timedelta(days=3)).isoformat()]
    assert (d3["credits"], d3["refunded"], d3["messages"]) == ("7.000000", "5.000000", 2)
    assert [m["model"] for m in d3["models"]] == ["unit-model"]
    assert days[(today - timedelta(days=1)).isoformat()]["credits"] == "0.000000"
    assert body["totals"]["credits"] == "42.000000"
    assert body["trend"] == {
        "last_7_days": "21.000000",
        "previous_7_days": "21.000000",
        "change_percent": "0.00",
    }
    forecast = body["forecast"]
    assert forecast["balance"] == "958.000000"
    assert forecast["burn_rate_per_day"] == "3.000000"
    assert forecast["projected_run_out_date"] == (today + timedelta(days=319)).isoformat()
    assert forecast["allowance_lasts_until_period_end"] is True


def test_a_usage_range_ending_before_it_starts_is_a_400_naming_the_field(api):
    response = api.get("/v1/organizations/acme/usage?from=2026-02-01&to=2026-01-01")
    assert response.status_code == 400
    assert error_of(response)["field"] == "to"
    response = api.get("/v1/organizations/acme/usage?from=yesterday")
    assert response.status_code == 400 and error_of(response)["field"] == "from"


def test_metrics_group_consumption_by_model_agent_user_tool_and_day(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "g1", at=now - timedelta(days=2))
    debit(
        engine,
        [
            event("m1", "acme", output_tokens=2, agent="a1", user="ana", at=now, tools={"web_search": 1}),
            event("m2", "acme", output_tokens=3, agent="a2", user="bo", at=now),
            event(
                "m3",
                "acme",
                model="gpt-4o",
                input_tokens=1000,
                output_tokens=0,
                agent="a1",
                user=None,
                at=now,
            ),
            event("m4", "acme", output_tokens=4, agent="a2", user="bo", at=now),
        ],
        now=now,
    )
    refund(engine, "m4", now=now)

    def groups(by: str) -> dict[str | None, tuple[str, str, int, int]]:
        body = api.get(f"/v1/organizations/acme/metrics?group_by={by}").json
        assert body["group_by"] == by
        return {
            g["key"]: (g["credits"], g["refunded"], g["messages"], g["tool_calls"]) for g in body["groups"]
        }

    assert groups("model") == {
        "unit-model": ("6.000000", "4.000000", 3, 1),
        "gpt-4o": ("0.250000", "0.000000", 1, 0),
    }
    assert groups("agent") == {"a1": ("3.250000", "0.000000", 2, 1), "a2": ("3.000000", "4.000000", 2, 0)}
    assert groups("user") == {
        "ana": ("3.000000", "0.000000", 1, 1),
        "bo": ("3.000000", "4.000000", 2, 0),
        None: ("0.250000", "0.000000", 1, 0),
    }
    assert groups("tool") == {"web_search": ("1.000000", "0.000000", 1, 1)}
    assert groups("day") == {now.date().isoformat(): ("6.250000", "4.000000", 4, 1)}
    response = api.get("/v1/organizations/acme/metrics?group_by=planet")
    assert response.status_code == 400 and error_of(response)["field"] == "group_by"


def test_metrics_only_count_the_days_asked_for(api, engine):
    grant(engine, "acme", 100, "g1", at=day_start(20))
    debit(engine, [event("old", "acme", output_tokens=9, at=day_start(10))], now=day_start(10))
    debit(engine, [event("new", "acme", output_tokens=1, at=day_start(1))], now=day_start(1))
    since = (date.today() - timedelta(days=5)).isoformat()
    body = api.get(f"/v1/organizations/acme/metrics?group_by=model&from={since}").json
    assert [(g["key"], g["credits"]) for g in body["groups"]] == [("unit-model", "1.000000")]


def test_entitlements_follow_the_live_subscription_and_plans_are_listed(api, engine):
    free = api.get("/v1/organizations/acme/entitlements").json
    assert (free["plan"]["code"], free["api_access"], free["max_agents"], free["subscription_status"]) == (
        "free",
        "basic",
        1,
        None,
    )
    subscribe(engine, "acme", "business", status="past_due")
    business = api.get("/v1/organizations/acme/entitlements").json
    assert (business["plan"]["code"], business["api_access"], business["support_level"]) == (
        "business",
        "enterprise",
        "priority",
    )
    assert (business["credits_per_month"], business["agents_remaining"]) == ("5000.000000", 50)
    plans = api.get("/v1/plans").json["data"]
    assert [(p["code"], p["credits_per_month"], p["monthly_price_cents"]) for p in plans] == [
        ("free", "0.000000", 0),
        ("starter", "500.000000", 1000),
        ("pro", "1000.000000", 2000),
        ("business", "5000.000000", 9900),
    ]
    pro = plans[2]
    assert (pro["yearly_price_cents"], pro["prices"]) == (
        19_200,
        [
            {"interval": "month", "price_cents": 2_000, "currency": "USD"},
            {"interval": "year", "price_cents": 19_200, "currency": "USD"},
        ],
    )


def test_the_balance_view_counts_the_periods_grants_net_usage_and_grants_expiring_soon(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 50, "g1", at=now - timedelta(days=40))
    grant(engine, "acme", 30, "g2", at=now - timedelta(hours=2), expires_at=now + timedelta(days=2))
    grant(engine, "acme", 20, "g3", at=now - timedelta(hours=2), expires_at=now + timedelta(days=9))
    debit(
        engine,
        [event("s1", "acme", output_tokens=7, at=now), event("s2", "acme", output_tokens=2, at=now)],
        now=now,
    )
    refund(engine, "s2", now=now)
    create_org(engine, "empty")

    with engine.connect() as c:
        view, empty = balance_view(c, "acme", now), balance_view(c, "empty", now)
    # Every row was recorded now (the real clock), so all of them are in this calendar month.
    assert (view.balance, view.allocated, view.used, view.overdraft) == (cr(93), cr(100), cr(7), 0)
    assert view.remaining_percent == Decimal("93.00")
    assert [(g.remaining, g.expires_at) for g in view.expiring_soon] == [(cr(23), now + timedelta(days=2))]
    assert (view.period_start.day, view.period_end.day) == (1, 1)
    assert (empty.balance, empty.allocated, empty.used, empty.expiring_soon) == (0, 0, 0, [])

    subscribe(engine, "acme", "pro")  # a period that started a day ago
    with engine.connect() as c:
        subscribed = balance_view(c, "acme", now)
    assert now - timedelta(days=1, minutes=1) < subscribed.period_start < now - timedelta(hours=23)
    assert (subscribed.allocated, subscribed.used) == (cr(100), cr(7))
