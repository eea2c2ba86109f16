"""Admin operations over HTTP: organizations, agents within plan limits, idempotent bonus grants,
API keys, plans, and rejected events with their replay."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from billing_core.pricing.catalog import NewModelPrice, add_model_prices
from billing_core.usage import rejections
from tests.support.api import Api, error_of, subscribe
from tests.support.ledger import balance, committed, setup_prices
from tests.support.pipeline import join_all


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    return Api(database_url, engine)


def grant(api: Api, key: str | None, body: dict, org: str = "acme"):  # type: ignore[no-untyped-def,type-arg]
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(f"/v1/organizations/{org}/credits", json=body, headers=headers)


def test_creating_an_organization_twice_answers_201_then_200_with_the_same_organization(api):
    first = api.post("/v1/organizations", json={"id": "acme", "name": "Acme Corp"})
    again = api.post("/v1/organizations", json={"id": "acme", "name": "Other name"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["created"] is True and again.json["created"] is False
    assert again.json["name"] == "Acme Corp" and again.json["created_at"] == first.json["created_at"]
    for bad in ({"id": " padded"}, {"id": ""}, {"name": "no id"}, {"id": "x" * 201}):
        response = api.post("/v1/organizations", json=bad)
        assert response.status_code == 400 and error_of(response)["field"] == "id", bad


def test_a_free_organization_gets_one_agent_and_a_clear_refusal_for_the_second(api, engine):
    api.create_org("acme")
    assert api.post("/v1/organizations/acme/agents", json={"id": "support-bot"}).status_code == 201
    assert api.post("/v1/organizations/acme/agents", json={"id": "support-bot"}).status_code == 200
    refused = api.post("/v1/organizations/acme/agents", json={"id": "sales-bot"})
    assert refused.status_code == 403
    error = error_of(refused)
    assert error["type"] == "plan_limit_reached"
    assert "'free'" in error["message"] and "at most 1 agents" in error["message"]

    subscribe(engine, "acme", "starter")
    created = api.post("/v1/organizations/acme/agents", json={"id": "sales-bot", "name": "Sales"})
    assert created.status_code == 201
    assert (created.json["agents"], created.json["max_agents"]) == (2, 3)
    assert api.post("/v1/organizations/nobody/agents", json={"id": "a"}).status_code == 404


def test_concurrent_agent_creations_never_exceed_the_plan_limit(api, engine):
    api.create_org("acme")
    subscribe(engine, "acme", "starter")  # 3 agents
    statuses: list[int] = []

    def create(i: int) -> None:
        client = api.app.test_client()
        response = client.post(
            "/v1/organizations/acme/agents",
            json={"id": f"bot-{i}"},
            headers={"Authorization": "Bearer admin-token-for-tests"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    join_all(threads)
    assert sorted(statuses) == [201, 201, 201, 403, 403, 403, 403, 403]
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM agents WHERE organization_id = 'acme'")).scalar_one() == 3


def test_a_bonus_grant_replayed_with_the_same_key_returns_the_first_answer_and_grants_once(api, engine):
    api.create_org("acme")
    body = {"credits": "12.5", "description": "launch bonus", "expires_at": "2099-01-01T00:00:00Z"}
    first = grant(api, "bonus-1", body)
    second = grant(api, "bonus-1", body)
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert (first.headers["Idempotent-Replayed"], second.headers["Idempotent-Replayed"]) == ("false", "true")
    transaction = first.json["transaction"]
    assert (transaction["type"], transaction["amount"], transaction["description"]) == (
        "bonus",
        "12.500000",
        "launch bonus",
    )
    assert first.json["expires_at"].startswith("2099-01-01T00:00:00") and first.json["grant_id"]
    assert balance(engine, "acme").balance == 12_500_000


@pytest.mark.parametrize(
    "changed",
    [
        {"credits": "12.500001"},
        {"description": "another reason"},
        {"expires_at": "2099-01-02T00:00:00Z"},
    ],
)
def test_the_same_idempotency_key_with_a_different_body_is_a_409_and_changes_nothing(api, engine, changed):
    api.create_org("acme")
    body = {"credits": "12.5", "description": "launch bonus", "expires_at": "2099-01-01T00:00:00Z"}
    assert grant(api, "bonus-1", body).status_code == 201
    conflict = grant(api, "bonus-1", {**body, **changed})
    assert conflict.status_code == 409
    assert error_of(conflict)["type"] == "idempotency_conflict"
    assert balance(engine, "acme").balance == 12_500_000


def test_the_same_key_for_two_organizations_is_two_grants(api, engine):
    api.create_org("acme")
    api.create_org("globex")
    assert grant(api, "welcome", {"credits": 5}).status_code == 201
    assert grant(api, "welcome", {"credits": 5}, org="globex").status_code == 201
    assert balance(engine, "globex").balance == 5_000_000


@pytest.mark.parametrize(
    ("key", "body", "field"),
    [
        (None, {"credits": "1"}, "Idempotency-Key"),
        ("k", {"credits": 1.5}, "credits"),
        ("k", {"credits": "1.0000001"}, "credits"),
        ("k", {"credits": "0"}, "credits"),
        ("k", {"credits": "-1"}, "credits"),
        ("k", {"credits": "1e3"}, "credits"),
        ("k", {"credits": "1", "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ("k", {"credits": "1", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ("k", {}, "credits"),
    ],
)
def test_a_malformed_grant_is_a_400_naming_the_field(api, key, body, field):
    api.create_org("acme")
    response = grant(api, key, body)
    assert response.status_code == 400, response.json
    assert error_of(response)["field"] == field


def test_a_grant_to_an_unknown_organization_is_a_404(api):
    response = grant(api, "k", {"credits": "1"}, org="nobody")
    assert response.status_code == 404 and error_of(response)["type"] == "not_found"


def test_an_api_key_is_shown_once_listed_by_prefix_and_revoked_idempotently(api, engine):
    api.create_org("acme")
    api.create_org("globex")
    created = api.new_key("acme", "ci")
    assert created["key"].startswith(created["prefix"] + "_") and created["prefix"].startswith("bk_live_")
    listed = api.get("/v1/organizations/acme/api-keys").json["data"]
    assert [(k["id"], k["prefix"], k["name"]) for k in listed] == [(created["id"], created["prefix"], "ci")]
    assert all("key" not in k for k in listed)
    with engine.connect() as c:
        stored = c.execute(text("SELECT key_hash FROM api_keys")).scalar_one()
    assert created["key"] not in stored and len(stored) == 64

    assert api.get("/v1/organizations/acme/balance", token=created["key"]).status_code == 200
    assert api.get("/v1/organizations/acme/api-keys").json["data"][0]["last_used_at"] is not None
    assert api.delete(f"/v1/organizations/globex/api-keys/{created['id']}").status_code == 404
    first = api.delete(f"/v1/organizations/acme/api-keys/{created['id']}")
    again = api.delete(f"/v1/organizations/acme/api-keys/{created['id']}")
    assert first.status_code == again.status_code == 200
    assert first.json["revoked_at"] == again.json["revoked_at"]
    assert api.delete("/v1/organizations/acme/api-keys/99999999999999999999").status_code == 404
    assert api.post("/v1/organizations/nobody/api-keys", json={}).status_code == 404


def test_rejected_events_are_listed_by_reason_and_replayed_once_their_price_exists(api, engine):
    api.create_org("acme")
    committed(engine, lambda c: c.execute(text("SELECT 1")))
    grant(api, "g", {"credits": 100})
    payload = {
        "event_id": "late-1",
        "organization_id": "acme",
        "agent_id": "bot",
        "model": "brand-new-model",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    rejection = rejections.Rejection("usage", rejections.UNKNOWN_MODEL, payload, "no price", "late-1", "acme")
    committed(engine, lambda c: rejections.record(c, [rejection]))

    listed = api.get("/v1/events/rejected?reason=unknown_model").json["data"]
    assert [(r["event_id"], r["reason"], r["payload"]["model"]) for r in listed] == [
        ("late-1", "unknown_model", "brand-new-model")
    ]
    assert api.get("/v1/events/rejected?reason=conflict").json["data"] == []
    assert api.post("/v1/events/rejected/replay", json={}).json == {
        "replayed": 1,
        "charged": 0,
        "still_rejected": 1,
    }

    at = datetime(2020, 1, 1, tzinfo=UTC)
    committed(
        engine,
        lambda c: add_model_prices(c, [NewModelPrice("brand-new-model", Decimal(2), Decimal(2), None, at)]),
    )
    assert api.post("/v1/events/rejected/replay").json == {"replayed": 1, "charged": 1, "still_rejected": 0}
    assert api.get("/v1/events/rejected").json["data"] == []
    assert balance(engine, "acme").balance == 98_000_000
    assert api.post("/v1/events/rejected/replay", json={}).json == {
        "replayed": 0,
        "charged": 0,
        "still_rejected": 0,
    }


def test_an_owner_may_own_as_many_organizations_as_their_best_plan_allows(database_url, engine):
    api = Api(database_url, engine)
    first = api.post("/v1/organizations", json={"id": "o1", "owner_user_id": "ana"})
    assert first.status_code == 201
    second = api.post("/v1/organizations", json={"id": "o2", "owner_user_id": "ana"})
    assert second.status_code == 403 and second.get_json()["error"]["type"] == "plan_limit_reached"
    assert "at most 1 organizations" in second.get_json()["error"]["message"]
    assert api.post("/v1/organizations", json={"id": "o1", "owner_user_id": "ana"}).status_code == 200
    subscribe(engine, "o1", "pro")  # Pro allows 3 organizations per owner
    assert [
        api.post("/v1/organizations", json={"id": f"p{i}", "owner_user_id": "ana"}).status_code
        for i in range(3)
    ] == [201, 201, 403]
    assert api.post("/v1/organizations", json={"id": "b1", "owner_user_id": "bob"}).status_code == 201
