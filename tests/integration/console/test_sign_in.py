"""Signing in to the console and the session that follows: the cookie (a session id, never the
credential), refusals, the admin token, rate limiting, the sign-in form's CSRF token, signing out,
and a revoked or forged key ending or never starting a session. Session lifetimes: test_sessions."""

from __future__ import annotations

import pytest

from tests.support.api import ADMIN, Api
from tests.support.console import (
    JSON,
    MORE,
    PAGE,
    console_cookie,
    follow,
    get,
    location,
    login_csrf,
    session_cookie,
    sign_in,
    sign_out,
    signed_in,
)
from tests.support.dom import dom
from tests.support.ledger import create_org

# --- signing in ---------------------------------------------------------------------------------


def test_signing_in_with_an_org_key_redirects_to_its_page_with_a_lax_http_only_session_cookie(api):
    key = api.new_key("acme")["key"]
    response = sign_in(api, key)

    assert response.status_code == 303
    assert location(response).path == PAGE
    assert key not in response.headers["Location"]
    cookie = console_cookie(response)
    assert key not in str(response.headers)  # the cookie holds a session id, not the credential
    assert len(cookie["value"]) == 43  # secrets.token_urlsafe(32)
    assert {"httponly", "secure"} <= set(cookie)
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/console"
    assert int(cookie["max-age"]) == 8 * 3600
    page = follow(api, response)
    assert page.status_code == 200
    assert dom(page).by_id("organization-id").text == "acme"


def test_with_secure_cookies_turned_off_the_session_cookie_is_not_secure(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, console_secure_cookie=False)
    response = sign_in(api, api.new_key("acme")["key"])

    assert response.status_code == 303
    cookie = console_cookie(response)
    assert cookie["value"] and "httponly" in cookie and cookie["samesite"] == "Lax"
    assert "secure" not in cookie


@pytest.mark.parametrize(
    ("public_url", "secure"), [("https://billing.example.com", True), ("http://localhost:8000", False)]
)
def test_the_cookie_is_secure_when_the_public_url_is_https(database_url, engine, public_url, secure):
    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, public_url=public_url, console_secure_cookie=True)
    response = sign_in(api, api.new_key("acme")["key"])

    assert response.status_code == 303
    assert ("secure" in console_cookie(response)) is secure


def test_a_wrong_token_is_refused_with_a_message_and_no_session(api):
    response = sign_in(api, "bk_not_a_key_at_all")

    assert response.status_code == 401
    message = dom(response).by_id("sign-in-message")
    assert "not valid" in message.text and message["role"] == "alert"
    assert console_cookie(response).get("value", "") == ""  # at most the deletion of an old one
    assert get(api).status_code == 401


def test_a_revoked_key_cannot_sign_in(api):
    issued = api.new_key("acme")
    assert api.delete(f"/v1/organizations/acme/api-keys/{issued['id']}").status_code == 200

    response = sign_in(api, issued["key"])

    assert response.status_code == 401
    assert "revoked" in dom(response).by_id("sign-in-message").text
    assert console_cookie(response).get("value", "") == ""


def test_the_admin_token_needs_an_organization_and_opens_any_existing_one(api, engine):
    create_org(engine, "beta")

    without = sign_in(api, ADMIN)
    unknown = sign_in(api, ADMIN, "nobody")
    assert (without.status_code, unknown.status_code) == (400, 404)
    assert "name the organization" in dom(without).by_id("sign-in-message").text
    assert "There is no organization 'nobody'" in dom(unknown).by_id("sign-in-message").text
    assert dom(unknown).by_id("organization")["value"] == "nobody"  # what was typed stays
    assert console_cookie(without).get("value", "") == console_cookie(unknown).get("value", "") == ""

    response = sign_in(api, ADMIN, " beta ")
    assert response.status_code == 303
    assert location(response).path == "/console/organizations/beta/subscription"
    assert ADMIN not in response.headers["Location"]
    assert ADMIN not in str(response.headers) and console_cookie(response)["value"]
    beta = follow(api, response)
    assert dom(beta).by_id("organization-id").text == "beta"
    assert "admin" in dom(beta).find("div", class_="account").text
    assert get(api).status_code == 200  # the admin may open every organization
    assert get(api, "/console/organizations/nobody/subscription").status_code == 404


def test_an_org_key_opens_its_own_organization_whatever_organization_is_typed(api, engine):
    create_org(engine, "beta")
    key = api.new_key("acme")["key"]

    response = sign_in(api, key, "beta")

    assert response.status_code == 303
    assert location(response).path == PAGE


def test_failed_sign_ins_are_limited_per_client_address(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, auth_failure_limit=2)
    key = api.new_key("acme")["key"]

    attempts = [sign_in(api, "bk_wrong"), sign_in(api, "bk_wrong"), sign_in(api, key)]

    assert [a.status_code for a in attempts] == [401, 401, 429]
    assert "Too many attempts" in dom(attempts[2]).by_id("sign-in-message").text
    assert int(attempts[2].headers["Retry-After"]) >= 1
    assert console_cookie(attempts[2]).get("value", "") == ""  # even a valid key waits
    other = api.client.post("/console/sign-in", data={"token": key}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 403  # another address is not limited (refused here for its missing csrf)


def test_a_sign_in_form_without_its_csrf_token_or_with_another_forms_is_refused(api):
    key = api.new_key("acme")["key"]
    login_csrf(api)  # the form's page: the client holds its nonce cookie

    without = api.client.post("/console/sign-in", data={"token": key})
    wrong = api.client.post("/console/sign-in", data={"token": key, "csrf": "0" * 64})

    for response in (without, wrong):
        assert response.status_code == 403
        assert "expired" in dom(response).by_id("sign-in-message").text
        assert console_cookie(response).get("value", "") == ""
    csrf = login_csrf(api)
    api.client.delete_cookie("billing_console_login", path="/console")  # the nonce it is bound to
    assert api.client.post("/console/sign-in", data={"token": key, "csrf": csrf}).status_code == 403
    assert sign_in(api, key).status_code == 303


def test_what_the_user_typed_is_escaped_on_the_sign_in_page(api):
    typed = '"><script>alert(1)</script>'

    response = sign_in(api, ADMIN, typed)

    assert response.status_code == 404
    page = dom(response)
    assert page.by_id("organization")["value"] == typed  # an attribute value, not markup
    assert all(s.get("src") for s in page.find_all("script"))
    assert "<script>alert(1)" not in response.get_data(as_text=True)


# --- the session --------------------------------------------------------------------------------


def test_revoking_the_key_ends_its_session_at_once(api):
    issued = api.new_key("acme")
    assert sign_in(api, issued["key"]).status_code == 303
    assert get(api).status_code == 200

    assert api.delete(f"/v1/organizations/acme/api-keys/{issued['id']}").status_code == 200
    page = get(api)
    more = get(api, f"{MORE}?cursor=dDE6MTA", headers=JSON)

    assert page.status_code == 401
    assert dom(page).by_id("sign-in-title").text == "Sign in to billing"
    assert dom(page).by_id("sign-in-message").text == "Please sign in."
    assert console_cookie(page).get("value") == ""  # the dead session's cookie is cleared
    assert more.status_code == 401 and more.json["error"]["message"].startswith("sign in again")


def test_a_forged_cookie_or_a_credential_as_cookie_is_no_session(api):
    key = api.new_key("acme")["key"]
    for value in ("forged_value", key, ADMIN):
        api.client.set_cookie("billing_console", value, path="/console")
        assert get(api).status_code == 401


def test_signing_out_clears_the_cookie_and_ends_the_session_on_the_server(api):
    signed_in(api)
    copied = session_cookie(api)
    response = sign_out(api)

    assert response.status_code == 303
    assert location(response).path == "/console/sign-in"
    cookie = console_cookie(response)
    assert cookie["value"] == "" and cookie["path"] == "/console"
    assert get(api).status_code == 401
    api.client.set_cookie("billing_console", copied, path="/console")  # a copy of the cookie
    assert get(api).status_code == 401


def test_signing_out_needs_the_pages_csrf_token(api):
    signed_in(api)

    refused = api.client.post("/console/sign-out", data={"csrf": "not-it"})

    assert refused.status_code == 403
    assert get(api).status_code == 200  # still signed in
    assert sign_out(api).status_code == 303


def test_an_open_key_session_skips_the_sign_in_form_but_an_admin_session_does_not(api, engine):
    assert dom(get(api, "/console/sign-in")).by_id("sign-in-title").text == "Sign in to billing"
    signed_in(api)
    assert location(get(api, "/console/sign-in")).path == PAGE

    sign_out(api)
    assert sign_in(api, ADMIN, "acme").status_code == 303
    form = get(api, "/console/sign-in")
    assert form.status_code == 200 and dom(form).find("form") is not None


def test_the_console_root_sends_an_org_key_to_its_page_and_others_to_sign_in(api):
    assert location(api.client.get("/console/")).path == "/console/sign-in"
    signed_in(api)
    assert location(api.client.get("/console/")).path == PAGE
