"""`billing sessions list|revoke`: an operator sees the live console sessions and ends them, and the
browser's cookie stops working at once."""

from __future__ import annotations

import json

from tests.support.api import ADMIN
from tests.support.console import get, sign_in, signed_in
from tests.support.ledger import create_org
from tests.support.processes import billing


def test_an_operator_lists_and_revokes_console_sessions(api, engine, database_url):
    create_org(engine, "beta")
    signed_in(api)
    key_client = api.client
    api.client = api.app.test_client()
    assert sign_in(api, ADMIN, "beta").status_code == 303
    admin_client, api.client = api.client, key_client

    listed = json.loads(billing(database_url, "sessions", "list", "--json").stdout)
    assert [(s["identity_kind"], s["organization_id"], s["status"]) for s in listed] == [
        ("admin_token", "beta", "live"),
        ("api_key", "acme", "live"),
    ]
    assert "token_hash" not in listed[0]
    text = billing(database_url, "sessions", "list").stdout
    assert "admin token" in text and "API key bk_live_" in text

    assert (
        "1 session(s) ended" in billing(database_url, "sessions", "revoke", "--organization", "beta").stdout
    )
    assert admin_client.get("/console/organizations/beta/subscription").status_code == 401
    assert get(api).status_code == 200
    billing(database_url, "sessions", "revoke", str(listed[1]["id"]))
    assert get(api).status_code == 401

    everything = json.loads(billing(database_url, "sessions", "list", "--json", "--all").stdout)
    assert [s["status"] for s in everything] == ["ended", "ended"]
    assert json.loads(billing(database_url, "sessions", "list", "--json").stdout) == []
    assert "0 session(s) ended" in billing(database_url, "sessions", "revoke", "--all").stdout
    refused = billing(database_url, "sessions", "revoke", check=False)
    assert refused.returncode == 2
