"""Admin keys and the audit log through the API: each privileged request leaves exactly one event
naming its actor, in its own transaction; failures leave none; no secret is ever written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from billing_core import audit
from billing_core.audit import Actor
from billing_core.db.uow import UnitOfWork, committed
from billing_core.ledger.bonus_grants import grant_bonus
from tests.support.api import ADMIN, Api, error_of, subscribe
from tests.support.audit import audit_events, audit_text
from tests.support.console import sign_in
from tests.support.ledger import create_org, debit, event, grant, setup_prices

ORG = "/v1/organizations/acme"


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "g-acme")
    subscribe(engine, "acme", "business")
    return Api(database_url, engine, notifications_allow_private=True)


def new_admin(api: Api, name: str, role: str = "owner", token: str = ADMIN) -> dict[str, Any]:
    response = api.post("/v1/admin-keys", json={"name": name, "role": role}, token=token)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def test_an_admin_key_is_shown_once_listed_by_prefix_marked_used_and_dead_once_revoked(api):
    created = new_admin(api, "alice", "billing")
    assert created["key"].startswith(created["prefix"] + "_") and created["prefix"].startswith("bk_adm_")
    assert created["created_by"] == "admin-token" and created["last_used_at"] is None
    assert api.get(f"{ORG}/balance", token=created["key"]).status_code == 200
    listed = api.get("/v1/admin-keys").json["data"]
    assert [(k["name"], k["role"], k["prefix"]) for k in listed] == [("alice", "billing", created["prefix"])]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None
    assert api.post("/v1/admin-keys", json={"name": "alice", "role": "read"}).status_code == 409
    revoked = api.delete(f"/v1/admin-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    response = api.get(f"{ORG}/balance", token=created["key"])
    assert response.status_code == 401 and error_of(response)["type"] == "unauthorized"
    assert api.get(f"{ORG}/balance", token="bk_adm_abcd1234_forged").status_code == 401
    assert new_admin(api, "alice", "read")["name"] == "alice"  # the name is free again
    assert api.delete("/v1/admin-keys/999999").status_code == 404


def test_a_role_without_the_right_gets_a_403_naming_the_role_it_needs(api):
    reader = new_admin(api, "rita", "read")["key"]
    response = api.post(
        f"{ORG}/credits", json={"credits": "1"}, headers={"Idempotency-Key": "k"}, token=reader
    )
    assert response.status_code == 403
    assert "'billing'" in error_of(response)["message"] and "'read'" in error_of(response)["message"]
    assert audit_events(api.engine, "credits.grant") == []


# (method, path, body, action); {debit} is a charged event of acme, {endpoint} a platform endpoint.
PRIVILEGED: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/v1/organizations", {"id": "newco"}, "organization.create"),
    ("POST", f"{ORG}/agents", {"id": "agent-9"}, "agent.create"),
    ("POST", f"{ORG}/credits", {"credits": "12.5"}, "credits.grant"),
    ("POST", f"{ORG}/refunds", {"event_id": "{debit}", "reason": "broken"}, "refund.create"),
    ("POST", f"{ORG}/api-keys", {"name": "ci"}, "api_key.create"),
    ("DELETE", f"{ORG}/api-keys/{{api_key}}", None, "api_key.revoke"),
    ("POST", "/v1/service-keys", {"scopes": ["read"]}, "service_key.create"),
    ("DELETE", "/v1/service-keys/{service_key}", None, "service_key.revoke"),
    ("POST", "/v1/admin-keys", {"name": "bob", "role": "read"}, "admin_key.create"),
    ("DELETE", "/v1/admin-keys/{admin_key}", None, "admin_key.revoke"),
    ("POST", "/v1/events/rejected/replay", {}, "events.replay"),
    ("POST", "/v1/notification-endpoints", {"url": "http://127.0.0.1:9/x"}, "notification_endpoint.create"),
    ("POST", "/v1/notification-endpoints/{endpoint}/disable", None, "notification_endpoint.disable"),
    ("POST", "/v1/notification-endpoints/{endpoint}/enable", None, "notification_endpoint.enable"),
    (
        "POST",
        "/v1/notification-endpoints/{endpoint}/rotate-secret",
        None,
        "notification_endpoint.rotate_secret",
    ),
    ("PUT", f"{ORG}/balance-alerts", {"thresholds": [20]}, "balance_alerts.set"),
    ("PUT", f"{ORG}/budgets", {"scope": "organization", "period": "month", "limit": "50"}, "budget.set"),
    ("DELETE", f"{ORG}/budgets/{{budget}}", None, "budget.delete"),
    ("POST", f"{ORG}/subscription/cancel", None, "subscription.cancel"),
    ("POST", f"{ORG}/subscription/resume", None, "subscription.resume"),
    ("POST", f"{ORG}/subscription/change", {"plan": "pro", "interval": "month"}, "subscription.change"),
]


def _targets(api: Api, engine, owner: str) -> dict[str, Any]:
    debit(engine, [event("e-1", "acme", output_tokens=3)])
    endpoint = api.post("/v1/notification-endpoints", json={"url": "http://127.0.0.1:9/y"}, token=owner)
    budget = api.put(
        f"{ORG}/budgets", json={"scope": "agent", "scope_id": "a", "period": "day", "limit": "1"}
    )
    return {
        "debit": "e-1",
        "api_key": api.new_key("acme")["id"],
        "service_key": api.post("/v1/service-keys", json={"scopes": ["ingest"]}).json["id"],
        "admin_key": new_admin(api, "carol", "read")["id"],
        "endpoint": endpoint.json["id"],
        "budget": budget.json["id"],
    }


def _fill(value: Any, targets: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**targets)
    if isinstance(value, dict):
        return {k: _fill(v, targets) for k, v in value.items()}
    return value


def test_every_privileged_request_leaves_exactly_one_event_naming_its_actor(api, engine):
    owner = new_admin(api, "alice", "owner")
    targets = _targets(api, engine, owner["key"])
    for method, path, body, action in PRIVILEGED:
        before = len(audit_events(engine, action))
        headers = {"Idempotency-Key": f"k-{action}", "X-Request-Id": f"req-{action.replace('.', '-')}"}
        response = api.call(
            method, _fill(path, targets), token=owner["key"], json=_fill(body, targets), headers=headers
        )
        assert response.status_code < 300, (action, response.json)
        events = audit_events(engine, action)[before:]
        assert len(events) == 1, (action, events)
        assert (events[0]["actor_kind"], events[0]["actor"]) == ("admin_key", "alice"), action
        assert events[0]["request_id"] == headers["X-Request-Id"] and events[0]["source_address"], action
    # What the API keys did as themselves names the key's prefix.
    key = api.new_key("acme")
    api.put(
        f"{ORG}/budgets",
        json={"scope": "user", "scope_id": "u", "period": "day", "limit": "2"},
        token=key["key"],
    )
    last = audit_events(engine, "budget.set")[-1]
    assert (last["actor_kind"], last["actor"]) == ("api_key", key["prefix"])


def test_a_bonus_grant_and_an_admin_refund_name_their_audit_event_and_a_replay_adds_none(api, engine):
    debit(engine, [event("e-2", "acme", output_tokens=2)])
    headers = {"Idempotency-Key": "bonus-1"}
    granted = api.post(f"{ORG}/credits", json={"credits": "7"}, headers=headers)
    assert granted.status_code == 201
    [grant_event] = audit_events(engine, "credits.grant")
    assert granted.json["transaction"]["audit_event_id"] == grant_event["id"]
    assert grant_event["details"]["credits"] == "7.000000" and grant_event["actor_kind"] == "admin_token"
    assert (
        api.post(f"{ORG}/credits", json={"credits": "7"}, headers=headers).headers["Idempotent-Replayed"]
        == "true"
    )
    assert len(audit_events(engine, "credits.grant")) == 1
    refunded = api.post(
        f"{ORG}/refunds", json={"event_id": "e-2", "reason": "x"}, headers={"Idempotency-Key": "r"}
    )
    [refund_event] = audit_events(engine, "refund.create")
    assert refunded.json["transaction"]["audit_event_id"] == refund_event["id"]
    history = api.get(f"{ORG}/transactions?type=bonus").json["data"]
    assert [t["audit_event_id"] for t in history] == [grant_event["id"], None]  # the fixture's grant: none


def test_a_failed_or_refused_action_leaves_no_event(api, engine):
    headers = {"Idempotency-Key": "k"}
    assert (
        api.post("/v1/organizations/nobody/credits", json={"credits": "1"}, headers=headers).status_code
        == 404
    )
    assert api.post(f"{ORG}/credits", json={"credits": "0"}, headers=headers).status_code == 400
    assert (
        api.post(f"{ORG}/refunds", json={"event_id": "none", "reason": "x"}, headers=headers).status_code
        == 404
    )
    assert api.delete(f"{ORG}/api-keys/999999").status_code == 404
    assert api.post("/v1/admin-keys", json={"name": "bad name", "role": "owner"}).status_code == 400
    assert audit_events(engine) == []


def test_an_action_rolled_back_after_its_event_leaves_neither(api, engine):
    actor = Actor("cli", "tester")
    with UnitOfWork(engine) as uow:  # never committed
        grant_bonus(uow.connection, "acme", "rolled-back", 5_000_000, datetime.now(UTC), actor=actor)
        assert len(audit_events(engine)) == 0  # not visible outside the transaction either
    with pytest.raises(TypeError):  # a float in the details fails the record, and the grant with it
        committed(
            engine,
            audit.audited(
                actor,
                "credits.grant",
                lambda c: grant_bonus(c, "acme", "float", 1_000_000, datetime.now(UTC)),
                details=lambda _: {"credits": 1.0},
            ),
        )
    assert audit_events(engine) == []
    with engine.connect() as connection:
        keys = connection.execute(
            text("SELECT count(*) FROM credit_transactions WHERE reference_id IN ('rolled-back', 'float')")
        ).scalar_one()
    assert keys == 0


def test_no_secret_is_ever_written_to_the_log(api, engine):
    owner = new_admin(api, "alice")
    secrets = [owner["key"], ADMIN, api.new_key("acme")["key"]]
    secrets.append(api.post("/v1/service-keys", json={"scopes": ["read"]}, token=owner["key"]).json["key"])
    made = api.post("/v1/notification-endpoints", json={"url": "http://127.0.0.1:9/z"}, token=owner["key"])
    secrets.append(made.json["secret"])
    secrets.append(api.post(f"/v1/notification-endpoints/{made.json['id']}/rotate-secret").json["secret"])
    sign_in(api, "bk_live_abcd1234_not-a-real-secret-at-all")
    sign_in(api, secrets[2])
    logged = audit_text(engine)
    assert "console.sign_in_failed" in logged and "console.sign_in" in logged
    for secret in [*secrets, "not-a-real-secret-at-all"]:
        assert secret not in logged
    with pytest.raises(ValueError, match="whole key"):
        committed(
            engine, lambda c: audit.record(c, Actor("cli", "x"), "api_key.create", details={"k": secrets[2]})
        )


def test_the_log_refuses_update_and_delete(api, engine):
    new_admin(api, "alice")
    for statement in (
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            committed(engine, lambda c, s=statement: c.execute(text(s)))
    assert [e["actor"] for e in audit_events(engine)] == ["admin-token"]


def test_owners_and_support_read_the_log_with_filters_and_pages(api, engine):
    support = new_admin(api, "sam", "support")["key"]
    billing = new_admin(api, "bill", "billing")["key"]
    for i in range(3):
        api.post(f"{ORG}/credits", json={"credits": "1"}, headers={"Idempotency-Key": f"p{i}"}, token=billing)
    assert api.get("/v1/audit-events", token=billing).status_code == 403
    first = api.get("/v1/audit-events?action=credits.grant&limit=2", token=support)
    assert first.status_code == 200 and first.json["has_more"]
    second = api.get(
        f"/v1/audit-events?action=credits.grant&limit=2&cursor={first.json['next_cursor']}", token=support
    )
    ids = [e["id"] for e in first.json["data"] + second.json["data"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and not second.json["has_more"]
    assert {e["actor"] for e in first.json["data"]} == {"bill"}
    mine = api.get("/v1/audit-events?actor=sam").json["data"]
    assert mine == []
    by_org = api.get("/v1/audit-events?organization=acme").json["data"]
    assert len(by_org) == 3
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert api.get(f"/v1/audit-events?since={later}").json["data"] == []
    assert len(api.get(f"/v1/audit-events?until={later}").json["data"]) == 5  # 2 keys, 3 grants
