"""Every route declares its access rule, and admin keys reach exactly what their role allows.

The routes are walked from the app's route map, so a new route without a declared rule fails
here, and a new admin-reachable route must be added to ROLE_OF (the one table of the matrix)."""

from __future__ import annotations

from typing import Any

import pytest

from api.access import access_rule
from billing_core.access.roles import ROLES, role_allows
from tests.support.api import ADMIN, Api, routes
from tests.support.ledger import create_org, setup_prices

# What an admin key needs, per endpoint reachable by admins (owner ⊃ billing ⊃ support ⊃ read;
# "audit" is owner and support).
ROLE_OF = {
    "admin.create_organization_view": "billing",
    "admin.create_agent_view": "billing",
    "admin.get_plans": "read",
    "admin.grant_credits_view": "billing",
    "admin.refund_view": "billing",
    "admin.create_api_key_view": "billing",
    "admin.list_api_keys_view": "read",
    "admin.revoke_api_key_view": "billing",
    "admin.list_rejected_view": "read",
    "admin.replay_rejected_view": "support",
    "organization.get_balance": "read",
    "organization.check_balance_view": "read",
    "organization.list_transactions": "read",
    "organization.get_usage": "read",
    "organization.get_metrics": "read",
    "organization.get_entitlements": "read",
    "subscription.get_subscription": "read",
    "subscription.create_checkout": "billing",
    "subscription.create_portal": "billing",
    "subscription.change_plan": "billing",
    "subscription.cancel_subscription": "billing",
    "subscription.resume_subscription": "billing",
    "purchases.get_credit_packs": "read",
    "purchases.create_purchase_checkout": "billing",
    "purchases.get_purchases": "read",
    "purchases.get_auto_recharge": "read",
    "purchases.put_auto_recharge": "billing",
    "notifications.create_endpoint": "billing",
    "notifications.list_all_endpoints": "read",
    "notifications.create_org_endpoint": "billing",
    "notifications.list_org_endpoints": "read",
    "notifications.disable_org_endpoint": "billing",
    "notifications.rotate_org_endpoint": "billing",
    "notifications.disable_endpoint": "billing",
    "notifications.enable_endpoint": "billing",
    "notifications.rotate_endpoint": "billing",
    "notifications.set_balance_alerts": "billing",
    "console_sessions.list_console_sessions": "audit",
    "console_sessions.end_console_session": "owner",
    "spend.set_budget_view": "billing",
    "spend.list_budgets_view": "read",
    "spend.delete_budget_view": "billing",
    "spend.create_hold_view": "billing",
    "spend.get_hold_view": "read",
    "spend.release_hold_view": "billing",
    "service_keys.create_service_key_view": "billing",
    "service_keys.list_service_keys_view": "read",
    "service_keys.revoke_service_key_view": "billing",
    "ingest.ingest_events": "billing",
    "audit.create_admin_key_view": "owner",
    "audit.list_admin_keys_view": "owner",
    "audit.revoke_admin_key_view": "owner",
    "audit.list_audit_events_view": "audit",
}


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    create_org(engine, "org-a")
    return Api(database_url, engine)


@pytest.fixture
def role_keys(api):
    keys = {}
    for role in ROLES:
        response = api.post("/v1/admin-keys", json={"name": f"{role}-person", "role": role})
        assert response.status_code == 201, response.json
        keys[role] = response.json["key"]
    return keys


def test_every_route_declares_its_access_rule(api):
    undeclared = [endpoint for endpoint, _, _ in routes(api.app) if access_rule(api.app, endpoint) is None]
    assert undeclared == []


def test_the_role_table_is_what_the_routes_declare(api):
    declared = {}
    for endpoint, _, _ in routes(api.app):
        rule = access_rule(api.app, endpoint)
        assert rule is not None
        if rule.admin_role is not None:
            declared[endpoint] = rule.admin_role
        else:
            assert rule.kind in ("public", "console"), endpoint
    assert declared == ROLE_OF


def _call(api: Api, method: str, path: str, token: str) -> Any:
    body = {} if method in ("POST", "PUT") else None
    return api.call(method, path, token=token, json=body, headers={"Idempotency-Key": "matrix"})


def _forbidden(response: Any) -> bool:
    return response.status_code == 403 and (response.json or {}).get("error", {}).get("type") == "forbidden"


@pytest.mark.parametrize("role", ROLES)
def test_each_admin_endpoint_answers_each_role_as_the_table_says(api, role_keys, role):
    checked = 0
    for endpoint, method, path in routes(api.app):
        needed = ROLE_OF.get(endpoint)
        if needed is None:
            continue
        response = _call(api, method, path, role_keys[role])
        assert response.status_code != 401, (role, endpoint, response.json)
        if role_allows(role, needed):
            assert not _forbidden(response), (role, endpoint, response.json)
        else:
            assert _forbidden(response), (role, endpoint, response.status_code, response.json)
            assert repr(needed) in response.json["error"]["message"]
        checked += 1
    assert checked == len(ROLE_OF)


def test_the_admin_token_is_an_owner_everywhere(api):
    for endpoint, method, path in routes(api.app):
        if endpoint in ROLE_OF:
            response = _call(api, method, path, ADMIN)
            assert response.status_code != 401 and not _forbidden(response), (endpoint, response.json)
