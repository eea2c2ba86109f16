"""Spend controls, worked through the API on the real PostgreSQL: budgets per agent, user, API key
and organization, and credit holds for agent turns, both honoured by check-balance."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing_core.errors import BudgetExceeded, InsufficientCredits
from billing_core.notifications import endpoints
from billing_core.spend import budgets
from billing_core.spend.holds import HoldRequest, create_hold, end_hold, expire_holds
from tests.support.api import Api, error_of
from tests.support.ledger import balance, committed, create_org, debit, event, grant, refund, setup_prices
from tests.support.pipeline import join_all

NOW = datetime.now(UTC)
ORG = "/v1/organizations/acme"


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine)


def budget(api: Api, scope: str, scope_id: str, period: str, limit: str, **extra: Any) -> dict[str, Any]:
    body = {"scope": scope, "scope_id": scope_id, "period": period, "limit": limit, **extra}
    response = api.put(f"{ORG}/budgets", json=body)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def check(api: Api, **body: Any) -> Any:
    return api.post(f"{ORG}/balance/check", json=body)


def spend(
    engine,
    event_id: str,
    credits: int,
    *,
    agent: str = "agent-1",
    user: str | None = "user-1",
    at: datetime = NOW,
    **extra: Any,
) -> None:  # type: ignore[no-untyped-def]
    e = replace(event(event_id, "acme", output_tokens=credits, agent=agent, user=user, at=at), **extra)
    debit(engine, [e], now=at)


def test_a_daily_agent_budget_of_50_credits_with_three_agents(api, engine):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    for agent in ("a", "b", "c"):
        budget(api, "agent", agent, "day", "50")
    spend(engine, "m1", 30, agent="a")
    spend(engine, "m2", 19, agent="a")
    assert check(api, agent_id="a").status_code == 200  # 49 of 50 spent
    assert (
        check(api, agent_id="a", estimate={"model": "unit-model", "max_output_tokens": 2}).status_code == 402
    )
    spend(engine, "m3", 5, agent="a")  # usage past the limit is still charged
    refused = check(api, agent_id="a")
    body = error_of(refused)
    assert refused.status_code == 402 and body["type"] == "budget_exceeded"
    assert (body["scope"], body["scope_id"], body["period"], body["limit"], body["spent"]) == (
        "agent",
        "a",
        "day",
        "50.000000",
        "54.000000",
    )
    assert (
        body["resets_at"]
        == (NOW.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).isoformat()
    )
    assert check(api, agent_id="b").status_code == 200 and check(api, agent_id="c").status_code == 200
    assert balance(engine, "acme", NOW).balance == 1_000_000_000 - 54_000_000


def test_a_user_budget_counts_the_users_spend_across_two_agents(api, engine):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    budget(api, "user", "ana", "month", "40")
    spend(engine, "m1", 25, agent="a", user="ana")
    spend(engine, "m2", 14, agent="b", user="ana")
    spend(engine, "m3", 30, agent="b", user="bo")
    assert check(api, user_id="ana", agent_id="b").status_code == 200  # 39 of 40
    spend(engine, "m4", 1, agent="b", user="ana")
    assert error_of(check(api, user_id="ana", agent_id="a"))["type"] == "budget_exceeded"
    assert check(api, user_id="bo").status_code == 200


def test_an_api_key_budget_applies_to_that_keys_checks_and_the_usage_billed_to_it(api, engine, database_url):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    committed(engine, lambda c: c.exec_driver_sql("UPDATE plans SET api_access = 'enterprise'"))
    key = api.new_key("acme")["key"]
    prefix = key[: len("bk_live_") + 8]
    budget(api, "api_key", prefix, "total", "10")
    spend(engine, "m1", 10, api_key=prefix)
    refused = api.post(f"{ORG}/balance/check", json={}, token=key)
    assert refused.status_code == 402 and error_of(refused)["scope_id"] == prefix
    assert check(api).status_code == 200  # the admin token names no key


def test_a_daily_budget_resets_at_the_next_utc_midnight(api, engine):
    yesterday = NOW - timedelta(days=1)
    grant(engine, "acme", 1_000, "seed", at=yesterday)
    budget(api, "organization", "", "day", "20")
    spend(engine, "old", 20, at=yesterday)
    spend(engine, "new", 5, at=NOW)
    statuses = api.get(f"{ORG}/budgets").json["data"]
    assert [(s["spent"], s["available"]) for s in statuses] == [("5.000000", "15.000000")]
    assert check(api).status_code == 200


def test_a_refund_gives_the_budget_back(api, engine):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    budget(api, "agent", "a", "day", "50")
    spend(engine, "m1", 50, agent="a")
    assert check(api, agent_id="a").status_code == 402
    refund(engine, "m1", now=NOW)
    assert check(api, agent_id="a").status_code == 200
    assert api.get(f"{ORG}/budgets").json["data"][0]["spent"] == "0.000000"


def hold(api: Api, key: str, credits: str, **extra: Any) -> Any:
    body = {"credits": credits, **extra}
    return api.post(f"{ORG}/holds", json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize("round_", range(3))
def test_50_concurrent_holds_against_a_balance_for_10_get_exactly_10(api, engine, round_):
    grant(engine, "acme", 100, "seed", at=NOW)
    statuses: list[int] = []
    lock = threading.Lock()

    def ask(i: int) -> None:
        client = api.app.test_client()
        response = client.post(
            f"{ORG}/holds",
            json={"credits": "10", "agent_id": f"a{i}"},
            headers={"Authorization": "Bearer admin-token-for-tests", "Idempotency-Key": f"turn-{i}"},
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    join_all(threads, 60)
    assert sorted(statuses) == [201] * 10 + [402] * 40
    refused = check(api)
    assert refused.status_code == 402 and error_of(refused)["held"] == "100.000000"


def test_a_hold_is_settled_by_its_debit_and_the_rest_is_released(api, engine):
    grant(engine, "acme", 100, "seed", at=NOW)
    made = hold(api, "turn-1", "30", agent_id="a")
    assert made.status_code == 201
    again = hold(api, "turn-1", "30", agent_id="a")
    assert (again.status_code, again.json["id"]) == (200, made.json["id"])  # idempotent
    assert hold(api, "turn-1", "31", agent_id="a").status_code == 409
    assert check(api, estimate={"model": "unit-model", "max_output_tokens": 71}).status_code == 402  # 70 free
    spend(engine, "m1", 45, agent="a", hold_id=made.json["id"])  # costs more than held: charged in full
    settled = api.get(f"{ORG}/holds/{made.json['id']}").json
    assert (settled["status"], settled["settled_event_id"], settled["settled_credits"]) == (
        "settled",
        "m1",
        "45.000000",
    )
    assert check(api, estimate={"model": "unit-model", "max_output_tokens": 55}).status_code == 200
    spend(engine, "m2", 1, agent="a", hold_id=made.json["id"])  # a settled hold is not settled twice
    assert balance(engine, "acme", NOW).balance == 54_000_000


def test_a_released_hold_frees_its_credits_and_a_late_debit_naming_it_is_charged_normally(api, engine):
    grant(engine, "acme", 100, "seed", at=NOW)
    made = hold(api, "turn-1", "100").json
    assert check(api).status_code == 402
    released = api.delete(f"{ORG}/holds/{made['id']}").json
    assert released["status"] == "released" and check(api).status_code == 200
    assert api.delete(f"{ORG}/holds/{made['id']}").json["status"] == "released"
    spend(engine, "late", 10, hold_id=made["id"])
    assert api.get(f"{ORG}/holds/{made['id']}").json["status"] == "released"
    assert check(api, estimate={"model": "unit-model", "max_output_tokens": 90}).status_code == 200


def test_expired_holds_are_released_once_by_the_sweeper(api, engine):
    grant(engine, "acme", 100, "seed", at=NOW)
    made = hold(api, "turn-1", "60", ttl_seconds=60).json
    expires = datetime.fromisoformat(made["expires_at"])
    assert committed(engine, lambda c: expire_holds(c, expires - timedelta(seconds=1))) == 0
    assert committed(engine, lambda c: expire_holds(c, expires + timedelta(seconds=1))) == 1
    assert committed(engine, lambda c: expire_holds(c, expires + timedelta(minutes=1))) == 0
    assert api.get(f"{ORG}/holds/{made['id']}").json["status"] == "expired"
    assert check(api, estimate={"model": "unit-model", "max_output_tokens": 100}).status_code == 200


def test_a_hold_is_refused_by_a_hard_budget_naming_it_and_counts_against_the_budget(api, engine):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    budget(api, "agent", "a", "day", "50")
    assert hold(api, "t1", "40", agent_id="a").status_code == 201
    refused = hold(api, "t2", "20", agent_id="a")
    assert refused.status_code == 402 and error_of(refused)["type"] == "budget_exceeded"
    assert error_of(refused)["held"] == "40.000000"
    assert hold(api, "t3", "20", agent_id="b").status_code == 201


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.integers(1, 40), st.sampled_from(["a", "b"])),
        st.tuples(st.just("settle"), st.integers(1, 60), st.integers(0, 9)),
        st.tuples(st.just("release"), st.integers(0, 9)),
        st.tuples(st.just("debit"), st.integers(1, 30), st.sampled_from(["a", "b"])),
        st.tuples(st.just("refund"), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_interleaving_keeps_available_and_every_budgets_spend_exact(engine, operations):
    """For any sequence of holds, settlements, releases, debits and refunds: the organization's held
    credits are the sum of its active holds, and an agent budget's spent is the sum of that agent's
    debits minus its refunds (the windows kept incrementally agree with the ledger)."""
    org = f"p{uuid.uuid4().hex[:8]}"
    setup_prices(engine) if not _has_prices(engine) else None
    create_org(engine, org)
    grant(engine, org, 500, f"seed-{org}", at=NOW)
    committed(
        engine,
        lambda c: budgets.set_budget(
            c,
            org,
            scope="agent",
            scope_id="a",
            period="day",
            limit_micros=10**12,
            hard=False,
            alert_thresholds=[],
            now=NOW,
        ),
    )
    made: list[int] = []
    debited: list[str] = []
    for n, op in enumerate(operations):
        kind = op[0]
        try:
            if kind == "hold":
                request = HoldRequest(org, op[1] * 1_000_000, f"k{n}", timedelta(hours=1), agent_id=op[2])
                made.append(committed(engine, lambda c, r=request: create_hold(c, r, NOW)).hold.id)
            elif kind == "settle" and made:
                e = replace(
                    event(f"{org}-s{n}", org, output_tokens=op[1], agent="a", at=NOW),
                    hold_id=made[op[2] % len(made)],
                )
                debit(engine, [e], now=NOW)
                debited.append(e.event_id)
            elif kind == "release" and made:
                released = made[op[1] % len(made)]
                committed(engine, lambda c, h=released: end_hold(c, org, h, NOW))
            elif kind == "debit":
                e = event(f"{org}-d{n}", org, output_tokens=op[1], agent=op[2], at=NOW)
                debit(engine, [e], now=NOW)
                debited.append(e.event_id)
            elif kind == "refund" and debited:
                refund(engine, debited[op[1] % len(debited)], now=NOW)
        except (InsufficientCredits, BudgetExceeded):
            pass
    with engine.connect() as c:
        held, active = c.execute(
            text(
                "SELECT b.held, (SELECT COALESCE(SUM(amount), 0) FROM credit_holds h "
                "WHERE h.organization_id = b.organization_id AND h.status = 'active') "
                "FROM balances b WHERE b.organization_id = :org"
            ),
            {"org": org},
        ).one()
        spent = c.execute(
            text(
                "SELECT COALESCE(SUM(w.spent), 0) FROM budget_windows w JOIN budgets b ON b.id = w.budget_id "
                "WHERE b.organization_id = :org"
            ),
            {"org": org},
        ).scalar_one()
        ledger = c.execute(
            text(
                "SELECT COALESCE(-SUM(amount), 0) FROM credit_transactions WHERE organization_id = :org "
                "AND agent_id = 'a' AND type IN ('usage', 'refund')"
            ),
            {"org": org},
        ).scalar_one()
    assert held == active
    assert spent == ledger


def _has_prices(engine) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM model_prices")).scalar_one())


def test_a_budget_window_notifies_each_alert_threshold_and_its_limit_once(api, engine):
    grant(engine, "acme", 1_000, "seed", at=NOW)
    committed(
        engine,
        lambda c: endpoints.add_endpoint(
            c, "http://127.0.0.1:9/hooks", organization_id=None, event_types=None, allow_private=True
        ),
    )
    budget(api, "agent", "a", "day", "100", alert_thresholds=[50, 80])
    for i, credits in enumerate((30, 30, 10, 25, 10, 40)):  # 30, 60, 70, 95, 105, 145
        spend(engine, f"m{i}", credits, agent="a")
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_type, payload -> 'data' ->> 'threshold_percent' FROM notification_events "
                "WHERE event_type LIKE 'budget.%' ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("budget.threshold", "50"),
        ("budget.threshold", "80"),
        ("budget.exceeded", "100"),
    ]
