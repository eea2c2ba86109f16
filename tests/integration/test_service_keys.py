"""Service keys: created by an admin (API and CLI), shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.support.api import Api, error_of
from tests.support.processes import billing


def _service_key(api: Api, scopes: list[str], organizations: list[str] | None = None) -> dict:
    body: dict = {"name": "runtime", "scopes": scopes}
    if organizations is not None:
        body["organizations"] = organizations
    response = api.post("/v1/service-keys", json=body)
    assert response.status_code == 201, response.json
    return response.json


def test_a_service_key_is_shown_once_stored_hashed_and_listed_by_prefix(database_url, engine):
    api = Api(database_url, engine)
    created = _service_key(api, ["ingest", "read"])
    assert created["key"].startswith(created["prefix"] + "_") and created["prefix"].startswith("bk_svc_")
    assert created["organizations"] is None and created["scopes"] == ["ingest", "read"]
    listed = api.get("/v1/service-keys").json["data"]
    assert [k["prefix"] for k in listed] == [created["prefix"]] and "key" not in listed[0]
    with engine.connect() as c:
        stored = c.execute(text("SELECT key_hash FROM service_keys")).scalar_one()
    assert created["key"] not in stored and len(stored) == 64


def test_read_scope_reads_its_organizations_and_nothing_else(database_url, engine):
    api = Api(database_url, engine)
    for org in ("acme", "globex"):
        api.create_org(org)
    key = _service_key(api, ["read"], ["acme"])["key"]
    assert api.get("/v1/organizations/acme/balance", token=key).status_code == 200
    assert (
        api.post("/v1/organizations/acme/balance/check", token=key, json={}).status_code == 402
    )  # read, no credits
    assert api.get("/v1/organizations/acme/transactions", token=key).status_code == 200
    assert error_of(api.get("/v1/organizations/globex/balance", token=key))["type"] == "not_found"
    for method, path in [
        ("POST", "/v1/organizations"),
        ("GET", "/v1/service-keys"),
        ("GET", "/v1/events/rejected"),
        ("POST", "/v1/organizations/acme/subscription/cancel"),
    ]:
        response = api.call(method, path, token=key, json={"id": "x"})
        assert response.status_code == 403, (path, response.json)
        assert error_of(response)["type"] == "forbidden"
    assert api.post("/v1/events", token=key, json=[]).status_code == 403  # no ingest scope


def test_an_ingest_only_key_cannot_read_or_call_admin_endpoints(database_url, engine):
    api = Api(database_url, engine)
    api.create_org("acme")
    key = _service_key(api, ["ingest"])["key"]
    assert api.post("/v1/events", token=key, json=[]).status_code == 200
    for method, path in [
        ("GET", "/v1/organizations/acme/balance"),
        ("GET", "/v1/plans"),
        ("POST", "/v1/organizations"),
        ("POST", "/v1/service-keys"),
        ("POST", "/v1/organizations/acme/api-keys"),
    ]:
        response = api.call(method, path, token=key, json={"id": "x", "scopes": ["read"]})
        assert response.status_code == 403, (path, response.json)


def test_a_revoked_service_key_stops_at_once_and_revoking_again_changes_nothing(database_url, engine):
    api = Api(database_url, engine)
    api.create_org("acme")
    created = _service_key(api, ["read"])
    assert api.get("/v1/organizations/acme/balance", token=created["key"]).status_code == 200
    revoked = api.delete(f"/v1/service-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    assert api.get("/v1/organizations/acme/balance", token=created["key"]).status_code == 401
    again = api.delete(f"/v1/service-keys/{created['id']}")
    assert again.json["revoked_at"] == revoked.json["revoked_at"]
    assert api.delete("/v1/service-keys/999999").status_code == 404


def test_a_service_key_records_its_last_use(database_url, engine):
    api = Api(database_url, engine)
    api.create_org("acme")
    created = _service_key(api, ["read"])
    assert created["last_used_at"] is None
    api.get("/v1/organizations/acme/balance", token=created["key"])
    assert api.get("/v1/service-keys").json["data"][0]["last_used_at"] is not None


def test_bad_scopes_and_unknown_organizations_are_refused_naming_the_field(database_url, engine):
    api = Api(database_url, engine)
    refused = api.post("/v1/service-keys", json={"scopes": ["admin"]})
    assert refused.status_code == 400 and error_of(refused)["field"].startswith("scopes")
    unknown = api.post("/v1/service-keys", json={"scopes": ["read"], "organizations": ["nope"]})
    assert unknown.status_code == 404


def test_billing_keys_create_list_and_revoke(database_url):
    billing(database_url, "orgs", "create", "acme")
    created = json.loads(
        billing(
            database_url, "keys", "create", "--scope", "ingest", "--organizations", "acme", "--json"
        ).stdout
    )
    assert created["key"].startswith("bk_svc_") and created["organizations"] == ["acme"]
    assert created["scopes"] == ["ingest"]
    listed = json.loads(billing(database_url, "keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert "revoked" in billing(database_url, "keys", "revoke", str(created["id"])).stdout
    bad = billing(database_url, "keys", "create", "--scope", "admin", check=False)
    assert bad.returncode == 2 and "scopes" in bad.stderr
