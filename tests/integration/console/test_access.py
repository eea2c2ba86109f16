"""Who may see and do what in the console: an organization key only its own organization, the
admin any, no session nothing (pages and the JSON endpoint alike), and no action without the
page's csrf value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.api import ADMIN
from tests.support.console import (
    JSON,
    MORE,
    act,
    act_signed,
    csrf_of,
    get,
    ledger_count,
    location,
    sign_in,
    sign_out,
    signed_in,
    subscription_row,
)
from tests.support.dom import dom
from tests.support.ledger import create_org, grant
from tests.support.subscriptions import subscribed_lately

ACTIONS = ("checkout", "change", "portal", "cancel", "resume")


# --- organizations and sessions -----------------------------------------------------------------


def test_an_admin_opens_another_organization_from_the_page_and_a_key_cannot(api, engine):
    create_org(engine, "other")
    sign_in(api, ADMIN, "acme")
    page = dom(get(api))
    form = page.by_id("open-organization")
    assert form is not None

    opened = get(api, "/console/open?organization=other")
    assert opened.status_code == 302 and location(opened).path == "/console/organizations/other/subscription"
    assert get(api, location(opened).path).status_code == 200
    assert get(api, "/console/open?organization=").status_code == 400

    sign_out(api)
    signed_in(api)
    assert dom(get(api)).find(id="open-organization") is None
    refused = get(api, "/console/open?organization=other")
    assert location(refused).path == "/console/sign-in"


def test_an_org_keys_session_cannot_open_another_organization(api, engine):
    create_org(engine, "beta")
    grant(engine, "beta", 100, "beta-seed", at=datetime.now(UTC))
    signed_in(api, "acme")
    csrf = csrf_of(get(api))

    page = get(api, "/console/organizations/beta/subscription")
    more = get(api, "/console/organizations/beta/transactions?cursor=dDE6MTA", headers=JSON)
    more_html = get(api, "/console/organizations/beta/transactions?cursor=dDE6MTA")
    cancel = act(api, "cancel", org="beta", csrf=csrf)

    assert (page.status_code, more.status_code, more_html.status_code, cancel.status_code) == (404,) * 4
    assert "unknown organization 'beta'" in dom(page).find("p", role="alert").text
    assert more.json == {"error": {"message": "unknown organization 'beta'"}}
    assert "beta-seed" not in page.get_data(as_text=True)
    assert get(api).status_code == 200  # its own organization still opens


def test_without_a_session_pages_ask_to_sign_in_and_the_json_endpoint_answers_401_json(api):
    page = get(api)
    more = get(api, f"{MORE}?cursor=dDE6MTA", headers=JSON)
    cancel = act(api, "cancel", csrf="x")

    assert page.status_code == 401
    assert dom(page).by_id("sign-in-title").text == "Sign in to billing"
    assert more.status_code == 401 and more.mimetype == "application/json"
    assert "sign in again" in more.json["error"]["message"]
    assert cancel.status_code == 401


def test_the_json_endpoint_answers_json_even_without_an_accept_header(api):
    more = get(api, f"{MORE}?cursor=dDE6MTA")

    assert more.status_code == 401
    assert more.mimetype == "application/json", more.get_data(as_text=True)[:300]


# --- CSRF ---------------------------------------------------------------------------------------


FORMS = {
    "checkout": {"plan": "business", "interval": "month", "provider": "stripe"},
    "change": {"plan": "business", "interval": "month"},
    "portal": {},
    "cancel": {},
    "resume": {},
}


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_without_or_with_a_wrong_csrf_is_403_and_changes_nothing(api, engine, provider, action):
    subscribed_lately(engine, "stripe")  # a Stripe subscription: every accepted action calls the provider
    before = subscription_row(engine)
    ledger = ledger_count(engine)
    other = api.new_key("acme", "other")["key"]
    assert sign_in(api, other).status_code == 303
    csrf_of_other_session = csrf_of(get(api))
    signed_in(api)
    real = csrf_of(get(api))
    assert real != csrf_of_other_session

    responses = [
        act(api, action, **FORMS[action]),
        act(api, action, csrf="", **FORMS[action]),
        act(api, action, csrf=real[:-1] + ("0" if real[-1] != "0" else "1"), **FORMS[action]),
        act(api, action, csrf=csrf_of_other_session, **FORMS[action]),
    ]

    for response in responses:
        assert response.status_code == 403, response.get_data(as_text=True)[:500]
        assert "the form has expired" in dom(response).find("p", role="alert").text
    assert provider.calls == []
    assert subscription_row(engine) == before
    assert ledger_count(engine) == ledger


def test_an_action_with_the_pages_csrf_is_accepted(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)

    response = act_signed(api, "cancel")

    assert response.status_code == 303
    assert provider.calls == [("cancel", "sub_1")]
