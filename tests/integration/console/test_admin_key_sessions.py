"""Named admin keys in the console: a key signs in and opens any organization; its role decides
whether the forms may change anything; revoking the key ends its sessions at once; what it does
is audited under its name, and so are an organization key's actions."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_core.access.admin_keys import create_admin_key, revoke_admin_key
from tests.support.api import manual_subscription
from tests.support.audit import audit_events
from tests.support.console import PAGE, act_signed, get, session_cookie, sign_in, signed_in, subscription_row
from tests.support.ledger import committed


def admin_key(engine, name: str, role: str) -> str:  # type: ignore[no-untyped-def]
    made = committed(engine, lambda c: create_admin_key(c, name, role, "tests", datetime.now(UTC)))
    return made.secret


def test_an_admin_key_signs_in_opens_the_organization_and_is_named_in_the_audit_log(api, engine):
    key = admin_key(engine, "ana", "billing")

    response = sign_in(api, key, "acme")

    assert response.status_code == 303, response.get_data(as_text=True)
    assert get(api).status_code == 200
    assert key not in session_cookie(api)
    [event] = audit_events(engine, "console.sign_in")
    assert (event["actor_kind"], event["actor"], event["organization_id"]) == ("admin_key", "ana", "acme")


def test_a_billing_admin_keys_cancel_is_audited_under_its_name(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    sign_in(api, admin_key(engine, "ana", "billing"), "acme")

    assert act_signed(api, "cancel").status_code == 303

    assert subscription_row(engine)[0][4] is True
    [event] = audit_events(engine, "subscription.cancel")
    assert (event["actor_kind"], event["actor"]) == ("admin_key", "ana")


def test_an_organization_keys_cancel_is_audited_under_the_keys_prefix(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    key = signed_in(api)

    assert act_signed(api, "cancel").status_code == 303

    [event] = audit_events(engine, "subscription.cancel")
    assert (event["actor_kind"], event["actor"]) == ("api_key", key[:16])


def test_a_read_or_support_admin_key_may_look_but_not_change_anything(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    for role in ("read", "support"):
        sign_in(api, admin_key(engine, f"viewer-{role}", role), "acme")
        assert get(api).status_code == 200

        refused = act_signed(api, "cancel")

        assert refused.status_code == 403, role
        assert subscription_row(engine)[0][4] is False
    assert audit_events(engine, "subscription.cancel") == []


def test_revoking_the_admin_key_ends_its_console_session_at_once(api, engine):
    sign_in(api, admin_key(engine, "ana", "owner"), "acme")
    assert get(api).status_code == 200

    committed(engine, lambda c: revoke_admin_key(c, "ana", datetime.now(UTC)))

    assert get(api, PAGE, headers={"Accept": "application/json"}).status_code == 401


def test_a_revoked_admin_key_cannot_sign_in_and_the_refusal_is_audited(api, engine):
    key = admin_key(engine, "ana", "owner")
    committed(engine, lambda c: revoke_admin_key(c, "ana", datetime.now(UTC)))

    assert sign_in(api, key, "acme").status_code == 401

    [event] = audit_events(engine, "console.sign_in_failed")
    assert event["actor_kind"] == "admin_key" and key not in str(event)
