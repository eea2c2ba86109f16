"""Who may call what: the admin token, keys at each access level, other organizations' keys,
revoked keys, no token and wrong tokens."""

from __future__ import annotations

from typing import Any

import pytest

from api.access import access_rule
from tests.support.api import ADMIN, Api, error_of, routes, subscribe
from tests.support.ledger import create_org, grant, setup_prices

LEVEL_OF_PLAN = {"free": "basic", "pro": "full", "business": "enterprise"}
LEVELS = ("basic", "full", "enterprise")

# (method, path, json body, what it needs); {org} is the caller's own organization.
ORG_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/organizations/{org}/balance", None, "basic"),
    ("POST", "/v1/organizations/{org}/balance/check", {}, "basic"),
    ("GET", "/v1/organizations/{org}/transactions", None, "full"),
    ("GET", "/v1/organizations/{org}/usage", None, "full"),
    ("GET", "/v1/organizations/{org}/metrics?group_by=agent", None, "full"),
    ("GET", "/v1/organizations/{org}/entitlements", None, "enterprise"),
    ("GET", "/v1/plans", None, "enterprise"),
]
ADMIN_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/organizations", {"id": "made-by-admin"}),
    ("POST", "/v1/organizations/{org}/agents", {"id": "agent-1"}),
    ("POST", "/v1/organizations/{org}/credits", {"credits": "1"}),
    ("POST", "/v1/organizations/{org}/api-keys", {"name": "another"}),
    ("GET", "/v1/organizations/{org}/api-keys", None),
    ("DELETE", "/v1/organizations/{org}/api-keys/999999", None),
    ("GET", "/v1/events/rejected", None),
    ("POST", "/v1/events/rejected/replay", {}),
]


@pytest.fixture
def world(database_url, engine):
    """One organization per plan, each with a key, and their keys by access level."""
    setup_prices(engine)
    api = Api(database_url, engine)
    keys = {}
    for plan, level in LEVEL_OF_PLAN.items():
        org = f"org-{level}"
        create_org(engine, org)
        grant(engine, org, 10, f"g-{org}")
        if plan != "free":
            subscribe(engine, org, plan)
        keys[level] = api.new_key(org)["key"]
    return api, keys


def call(api: Api, method: str, path: str, body: dict[str, Any] | None, org: str, token: str | None) -> Any:
    headers = {"Idempotency-Key": "auth-matrix"} if path.endswith("/credits") else {}
    return api.call(method, path.format(org=org), token=token, json=body, headers=headers)


def test_the_admin_token_may_call_every_endpoint_of_every_organization(world):
    api, _ = world
    for method, path, body, _ in ORG_ENDPOINTS:
        response = call(api, method, path, body, "org-basic", ADMIN)
        assert response.status_code in (200, 402), (path, response.json)
    for method, path, body in ADMIN_ENDPOINTS:
        response = call(api, method, path, body, "org-basic", ADMIN)
        expected = (404,) if method == "DELETE" else (200, 201)  # key 999999 does not exist
        assert response.status_code in expected, (path, response.json)


@pytest.mark.parametrize("level", LEVELS)
def test_a_key_calls_its_own_organization_as_far_as_its_plan_allows(world, level):
    api, keys = world
    for method, path, body, needed in ORG_ENDPOINTS:
        response = call(api, method, path, body, f"org-{level}", keys[level])
        if LEVELS.index(level) >= LEVELS.index(needed):
            assert response.status_code == 200, (level, path, response.json)
        else:
            assert response.status_code == 403, (level, path, response.json)
            assert needed in error_of(response)["message"]


@pytest.mark.parametrize("level", LEVELS)
def test_no_key_may_call_an_admin_endpoint_even_for_its_own_organization(world, level):
    api, keys = world
    admin_only = []
    for endpoint, method, path in routes(api.app, f"org-{level}"):
        rule = access_rule(api.app, endpoint)
        if rule is None or rule.kind != "admin":  # every route declares one (test_api_access_matrix.py)
            continue
        body = {} if method in ("POST", "PUT") else None
        response = api.call(method, path, token=keys[level], json=body, headers={"Idempotency-Key": "k"})
        assert response.status_code == 403, (level, path, response.json)
        assert error_of(response)["type"] == "forbidden"
        admin_only.append(endpoint)
    assert len(admin_only) >= len(ADMIN_ENDPOINTS)


def test_a_key_never_sees_another_organization_it_gets_the_404_of_a_missing_one(world):
    api, keys = world
    for method, path, body, _ in ORG_ENDPOINTS:
        if "{org}" not in path:
            continue
        response = call(api, method, path, body, "org-basic", keys["enterprise"])
        assert response.status_code == 404, (path, response.json)
        missing = call(api, method, path, body, "no-such-org", ADMIN)
        assert error_of(response)["type"] == error_of(missing)["type"] == "not_found"


def test_a_revoked_key_stops_working_at_once(world):
    api, _ = world
    created = api.new_key("org-full", "short-lived")
    assert api.get("/v1/organizations/org-full/balance", token=created["key"]).status_code == 200
    revoked = api.delete(f"/v1/organizations/org-full/api-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    response = api.get("/v1/organizations/org-full/balance", token=created["key"])
    assert response.status_code == 401
    assert error_of(response)["type"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "Bearer bk_live_abcd1234_forged", ADMIN],
)
def test_a_missing_malformed_or_unknown_token_is_a_401_with_a_bearer_challenge(world, header):
    api, _ = world
    headers = {"Authorization": header} if header else {}
    for method, path, body, _ in ORG_ENDPOINTS:
        response = api.call(method, path.format(org="org-basic"), token=None, json=body, headers=headers)
        assert response.status_code == 401, (header, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert error_of(response)["type"] == "unauthorized"


def test_without_an_admin_token_configured_admin_access_is_disabled(database_url, engine):
    create_org(engine, "acme")
    for configured in (None, ""):
        api = Api(database_url, engine, admin_token=configured)
        for token in ("", " ", "None", ADMIN):
            assert api.get("/v1/organizations/acme/balance", token=token).status_code == 401
