"""The billing console through the Flask test client: signing in, what each tab shows, the
subscription actions and what they ask of the payment provider, and who may see what."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import text

from api.console.pages import HISTORY_PAGE
from billing_core.plans.catalog import set_plan
from billing_core.plans.plans import list_plans
from tests.support.api import ADMIN, Api, manual_subscription, subscribe
from tests.support.ledger import committed, create_org, debit, event, grant, setup_prices
from tests.support.providers import FakeProviders, RecordingProvider, fake_providers
from tests.support.subscriptions import subscribed_lately, with_stripe_prices

PAGE = "/console/organizations/acme/subscription"
MORE = "/console/organizations/acme/transactions"
ACTIONS = ("checkout", "change", "portal", "cancel", "resume")
STRIPE_KEY = "sk_test_console_key"
JSON = {"Accept": "application/json"}  # what the page's script sends for Load More


# --- a small DOM, enough to find elements and read their text -----------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            yield child
            yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Node | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> Node:
        found = self.find_all(id=element_id)
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    @property
    def text(self) -> str:
        out = "".join(p if isinstance(p, str) else p.text for p in self.parts)
        return " ".join(out.split())

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return
        raise AssertionError(f"stray </{tag}>")

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def dom(response_or_html: Any) -> Node:
    html = response_or_html if isinstance(response_or_html, str) else response_or_html.get_data(as_text=True)
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], f"unclosed: {[n.tag for n in builder.stack[1:]]}"
    return builder.root


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def api(database_url, engine, provider):
    setup_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine, payments={"stripe": provider})


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with fake_providers() as server:
        yield server


@pytest.fixture
def stripe_api(database_url, engine, fake):
    """The real stripe adapter against the local fake."""
    setup_prices(engine)
    with_stripe_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine, stripe_api_key=STRIPE_KEY, stripe_api_base=fake.url)


def sign_in(api: Api, token: str, organization: str = "") -> Any:
    return api.client.post("/console/sign-in", data={"token": token, "organization": organization})


def signed_in(api: Api, org: str = "acme") -> str:
    """Sign in with a new API key of `org`; returns the key."""
    key = api.new_key(org)["key"]
    response = sign_in(api, key)
    assert response.status_code == 303, response.get_data(as_text=True)
    return key


def get(api: Api, path: str = PAGE, **kwargs: Any) -> Any:
    return api.client.get(path, **kwargs)


def csrf_of(response: Any) -> str:
    values = set(re.findall(r'name="csrf" value="([^"]*)"', response.get_data(as_text=True)))
    assert len(values) == 1, values
    return values.pop()


def act(api: Api, action: str, org: str = "acme", **form: str) -> Any:
    return api.client.post(f"/console/organizations/{org}/subscription/{action}", data=form)


def act_signed(api: Api, action: str, **form: str) -> Any:
    """Post an action with the csrf value of the page, as the page's form does."""
    return act(api, action, csrf=csrf_of(get(api)), **form)


def console_cookie(response: Any) -> dict[str, str]:
    """The attributes of the response's Set-Cookie for the session ({} when there is none)."""
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == "billing_console":
            value, *attributes = [part.strip() for part in rest.split(";")]
            parsed = {"value": value}
            for attribute in attributes:
                key, _, attr_value = attribute.partition("=")
                parsed[key.lower()] = attr_value
            return parsed
    return {}


def location(response: Any) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(response.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def follow(api: Api, response: Any) -> Any:
    """GET the console page a 303 points to."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    target = location(response)
    return api.client.get(f"{target.path}?{target.query}")


def subscription_row(engine: Any, org: str = "acme") -> tuple[Any, ...] | None:
    """Everything an action may change on the organization's subscriptions."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT id, plan_code, billing_interval, status, cancel_at_period_end, next_plan_code, "
                "next_interval, pending_upgrade_plan, current_period_start, current_period_end "
                "FROM subscriptions WHERE organization_id = :org ORDER BY id"
            ),
            {"org": org},
        ).all()
    return tuple(tuple(r) for r in rows) if rows else None


def ledger_count(engine: Any, org: str = "acme") -> int:
    with engine.connect() as c:
        count: int = c.execute(
            text("SELECT count(*) FROM credit_transactions WHERE organization_id = :org"), {"org": org}
        ).scalar_one()
    return count


def day_text(value: datetime) -> str:
    return f"{value:%b} {value.day}, {value.year}"


# --- signing in ---------------------------------------------------------------------------------


def test_signing_in_with_an_org_key_redirects_to_its_page_with_a_strict_http_only_cookie(api):
    key = api.new_key("acme")["key"]
    response = sign_in(api, key)

    assert response.status_code == 303
    assert location(response).path == PAGE
    assert key not in response.headers["Location"]
    cookie = console_cookie(response)
    assert cookie["value"] == key
    assert {"httponly", "secure"} <= set(cookie)
    assert cookie["samesite"] == "Strict"
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
    assert cookie["value"] and "httponly" in cookie and cookie["samesite"] == "Strict"
    assert "secure" not in cookie


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
    assert console_cookie(response)["value"] == ADMIN
    beta = follow(api, response)
    assert dom(beta).by_id("organization-id").text == "beta"
    assert "admin" in dom(beta).find("div", class_="account").text
    assert get(api).status_code == 200  # the admin may open every organization
    assert get(api, "/console/organizations/nobody/subscription").status_code == 404


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

    api.client.post("/console/sign-out")
    signed_in(api)
    assert dom(get(api)).find(id="open-organization") is None
    refused = get(api, "/console/open?organization=other")
    assert location(refused).path == "/console/sign-in"


def test_an_org_key_opens_its_own_organization_whatever_organization_is_typed(api, engine):
    create_org(engine, "beta")
    key = api.new_key("acme")["key"]

    response = sign_in(api, key, "beta")

    assert response.status_code == 303
    assert location(response).path == PAGE


def test_sign_in_attempts_are_rate_limited_per_client(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, api_rate_limit_burst=2, api_rate_limit_per_second=0.001)
    key = api.new_key("acme")["key"]

    attempts = [sign_in(api, "bk_wrong"), sign_in(api, "bk_wrong"), sign_in(api, key)]

    assert [a.status_code for a in attempts] == [401, 401, 429]
    assert "Too many attempts" in dom(attempts[2]).by_id("sign-in-message").text
    assert console_cookie(attempts[2]).get("value", "") == ""  # even a valid key waits


def test_what_the_user_typed_is_escaped_on_the_sign_in_page(api):
    typed = '"><script>alert(1)</script>'

    response = sign_in(api, ADMIN, typed)

    assert response.status_code == 404
    page = dom(response)
    assert page.by_id("organization")["value"] == typed  # an attribute value, not markup
    assert all(s.get("src") for s in page.find_all("script"))
    assert "<script>alert(1)" not in response.get_data(as_text=True)


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


def test_a_forged_cookie_is_no_session(api):
    api.client.set_cookie("billing_console", "bk_forged_value", path="/console")

    assert get(api).status_code == 401


def test_signing_out_clears_the_cookie_and_ends_the_session(api):
    signed_in(api)
    response = api.client.post("/console/sign-out")

    assert response.status_code == 303
    assert location(response).path == "/console/sign-in"
    cookie = console_cookie(response)
    assert cookie["value"] == "" and cookie["path"] == "/console"
    assert get(api).status_code == 401


def test_an_open_key_session_skips_the_sign_in_form_but_an_admin_session_does_not(api, engine):
    assert dom(get(api, "/console/sign-in")).by_id("sign-in-title").text == "Sign in to billing"
    signed_in(api)
    assert location(get(api, "/console/sign-in")).path == PAGE

    api.client.post("/console/sign-out")
    assert sign_in(api, ADMIN, "acme").status_code == 303
    form = get(api, "/console/sign-in")
    assert form.status_code == 200 and dom(form).find("form") is not None


def test_the_console_root_sends_an_org_key_to_its_page_and_others_to_sign_in(api):
    assert location(api.client.get("/console/")).path == "/console/sign-in"
    signed_in(api)
    assert location(api.client.get("/console/")).path == PAGE


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


# --- checkout -----------------------------------------------------------------------------------


def test_checkout_sends_the_browser_to_the_providers_checkout_for_the_chosen_plan(api, engine, provider):
    signed_in(api)

    response = act_signed(api, "checkout", plan="pro", interval="year", provider="stripe")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://pay.test/c/1"
    [(kind, org, plan, interval, success, cancel, _key)] = provider.calls
    assert (kind, org, plan, interval) == ("checkout", "acme", "pro", "year")
    for url, notice in ((success, "checkout_done"), (cancel, "checkout_canceled")):
        parts = urllib.parse.urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", PAGE)
        assert query_of(url) == {"tab": "plans", "notice": notice}
    assert subscription_row(engine) is None  # nothing is subscribed before the provider confirms


def test_checkout_through_the_stripe_adapter_returns_to_the_console_page(stripe_api, fake):
    api = stripe_api
    signed_in(api)
    page = dom(get(api))
    form = page.find("article", data_plan="pro").find("form")
    fields = {i["name"]: i["value"] for i in form.find_all("input")}
    assert fields["provider"] == "stripe" and fields["plan"] == "pro"

    response = act(api, "checkout", **{**fields, "interval": "year"})

    assert response.status_code == 303
    assert response.headers["Location"] == "https://checkout.stripe.test/c/pay/cs_test_1"
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.form["line_items[0][price]"] == "price_pro_y"
    assert (sent.form["client_reference_id"], sent.form["metadata[plan]"]) == ("acme", "pro")
    assert sent.form["metadata[interval]"] == "year"
    assert sent.form["success_url"] == f"http://localhost{PAGE}?tab=plans&notice=checkout_done"
    assert sent.form["cancel_url"] == f"http://localhost{PAGE}?tab=plans&notice=checkout_canceled"

    back = get(api, f"{PAGE}?tab=plans&notice=checkout_done")
    assert "Thank you" in dom(back).by_id("notice").text
    canceled = get(api, f"{PAGE}?tab=plans&notice=checkout_canceled")
    assert "nothing was charged" in dom(canceled).by_id("notice").text


def test_checkout_when_already_subscribed_shows_the_page_with_an_error_and_calls_no_provider(
    api, engine, provider
):
    subscribe(engine, "acme", "pro")
    before = subscription_row(engine)
    signed_in(api)

    response = act_signed(api, "checkout", plan="business", interval="month", provider="stripe")

    assert response.status_code == 409
    page = dom(response)
    assert "live subscription" in page.by_id("error").text
    assert page.by_id("tab-plans")["aria-selected"] == "true"
    assert provider.calls == []
    assert subscription_row(engine) == before


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"plan": "free", "interval": "month", "provider": "stripe"}, 400, "is free"),
        ({"plan": "platinum", "interval": "month", "provider": "stripe"}, 400, "platinum"),
        ({"plan": "pro", "interval": "week", "provider": "stripe"}, 400, "interval"),
        ({"plan": "pro", "interval": "month", "provider": "paypal"}, 400, "provider"),
    ],
)
def test_a_checkout_the_console_cannot_offer_is_refused_on_the_page(api, provider, form, status, words):
    signed_in(api)

    response = act_signed(api, "checkout", **form)

    assert response.status_code == status
    assert words in dom(response).by_id("error").text
    assert provider.calls == []


# --- cancel and resume --------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_explaining_credits_stay_usable_until_the_period_end(api, engine):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)

    plain = dom(get(api))
    confirm = dom(get(api, f"{PAGE}?tab=plans&confirm=cancel"))

    assert plain.find(id="cancel-confirm") is None
    link = plain.by_id("cancel-subscription")
    assert query_of("http://x/" + link["href"].split("#")[0]) == {"tab": "plans", "confirm": "cancel"}
    dialog = confirm.by_id("cancel-confirm")
    assert dialog["role"] == "alertdialog"
    words = confirm.by_id("cancel-confirm-text").text
    assert "credits stay usable until then" in words
    assert day_text(start + timedelta(days=30)) in words
    assert dialog.find("button", type="submit").text == "Yes, cancel at period end"


def test_cancel_and_resume_of_a_manual_subscription_come_back_to_the_page_with_a_notice(
    api, engine, provider
):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)

    canceled = act_signed(api, "cancel")

    assert canceled.status_code == 303
    assert location(canceled).path == PAGE
    assert query_of(canceled.headers["Location"]) == {"tab": "plans", "notice": "canceled"}
    page = dom(follow(api, canceled))
    assert "canceled at the end of the period" in page.by_id("notice").text
    notice = page.by_id("cancel-notice").text
    assert day_text(start + timedelta(days=30)) in notice and "credits stay usable" in notice
    assert page.by_id("resume-subscription").text == "Resume Subscription"
    assert page.find(id="cancel-subscription") is None
    assert subscription_row(engine)[0][4] is True

    resumed = act_signed(api, "resume")

    assert query_of(resumed.headers["Location"]) == {"tab": "plans", "notice": "resumed"}
    page = dom(follow(api, resumed))
    assert "continues" in page.by_id("notice").text
    assert page.find(id="resume-subscription") is None and page.find(id="cancel-notice") is None
    assert page.by_id("cancel-subscription").text == "Cancel Subscription"
    assert subscription_row(engine)[0][4] is False
    assert provider.calls == []  # a manual subscription has no provider to tell


def test_cancel_and_resume_of_a_stripe_subscription_tell_the_provider(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)

    assert act_signed(api, "cancel").status_code == 303
    assert act_signed(api, "resume").status_code == 303

    assert provider.calls == [("cancel", "sub_1"), ("resume", "sub_1")]


def test_cancel_without_a_subscription_is_an_error_on_the_page(api, provider):
    signed_in(api)

    response = act_signed(api, "cancel")

    assert response.status_code == 404
    assert dom(response).by_id("error").text
    assert provider.calls == []


# --- change of plan ------------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["starter", "pro"])
def test_an_upgrade_of_a_manual_subscription_waits_for_payment_with_a_notice(api, engine, provider, current):
    manual_subscription(engine, "acme", current, started_days_ago=2)
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "upgrade_pending"}
    page = dom(follow(api, response))
    assert "Upgrade recorded" in page.by_id("notice").text
    assert "An upgrade to business is waiting for its payment" in page.by_id("pending-upgrade").text
    assert provider.calls == []


def test_an_upgrade_of_a_stripe_subscription_is_charged_with_a_notice(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "upgrade_charged"}
    assert "charged to your saved payment method" in dom(follow(api, response)).by_id("notice").text
    [(kind, sub_id, plan, _amount, _key, success)] = provider.calls
    assert (kind, sub_id, plan) == ("upgrade", "sub_1", "business")
    assert query_of(success) == {"tab": "plans", "notice": "upgrade_pending"}


def test_an_upgrade_the_provider_wants_paid_on_its_page_sends_the_browser_there(api, engine, provider):
    subscribed_lately(engine, "stripe")
    provider.upgrade_checkout_url = "https://pay.test/upgrade/1"
    signed_in(api)

    response = act_signed(api, "change", plan="business", interval="month")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://pay.test/upgrade/1"


def test_a_downgrade_is_scheduled_for_the_period_end_and_the_page_says_so(api, engine, provider):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=4)
    signed_in(api)

    response = act_signed(api, "change", plan="starter", interval="month")

    assert query_of(response.headers["Location"]) == {"tab": "plans", "notice": "change_scheduled"}
    page = dom(follow(api, response))
    assert "changes at the end of the current period" in page.by_id("notice").text
    summary = page.by_id("current-subscription").text
    assert f"Changes to starter (monthly) on {day_text(start + timedelta(days=30))}" in summary
    assert page.by_id("current-plan").text == "Pro"  # still Pro until then
    assert subscription_row(engine)[0][1:6] == ("pro", "month", "active", False, "starter")
    assert provider.calls == []


def test_a_stripe_downgrade_is_rescheduled_at_the_provider(api, engine, provider):
    subscribed_lately(engine, "stripe", plan="business")
    signed_in(api)

    response = act_signed(api, "change", plan="pro", interval="month")

    assert query_of(response.headers["Location"])["notice"] == "change_scheduled"
    assert provider.calls == [("schedule", "sub_1", "pro", "month")]


# --- billing portal -----------------------------------------------------------------------------


def test_manage_billing_of_a_stripe_subscription_opens_the_portal(api, engine, provider):
    subscribed_lately(engine, "stripe")
    signed_in(api)
    page = dom(get(api))
    assert page.by_id("manage-billing").text == "Manage Billing"

    response = act_signed(api, "portal")

    assert response.status_code == 303
    assert response.headers["Location"] == "https://portal.test/s/1"
    [(kind, customer, return_url)] = provider.calls
    assert (kind, customer) == ("portal", "cus_1")
    assert urllib.parse.urlsplit(return_url).path == PAGE


def test_the_portal_through_the_stripe_adapter_returns_to_the_console(stripe_api, engine, fake):
    subscribed_lately(engine, "stripe")
    signed_in(stripe_api)

    response = act_signed(stripe_api, "portal")

    assert response.headers["Location"] == "https://billing.stripe.test/p/session/bps_1"
    [sent] = fake.requests
    assert sent.form == {"customer": "cus_1", "return_url": f"http://localhost{PAGE}?tab=plans"}


def test_manage_billing_of_a_manual_subscription_is_an_error_on_the_page(api, engine, provider):
    subscribe(engine, "acme", "pro")
    signed_in(api)
    assert dom(get(api)).find(id="manage-billing") is None

    response = act_signed(api, "portal")

    assert response.status_code == 409
    assert "portal" in dom(response).by_id("error").text
    assert provider.calls == []


# --- provider refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "form"),
    [("cancel", {}), ("portal", {}), ("change", {"plan": "business", "interval": "month"})],
)
def test_a_provider_refusal_shows_the_page_with_the_error_and_changes_nothing(
    api, engine, provider, action, form
):
    subscribed_lately(engine, "stripe")
    before = subscription_row(engine)
    ledger = ledger_count(engine)
    signed_in(api)
    provider.refuse = True

    response = act_signed(api, action, **form)

    assert response.status_code == 502
    page = dom(response)
    assert "declined" in page.by_id("error").text
    assert page.by_id("subscription-status").text == "active"
    assert page.find(id="cancel-notice") is None
    assert len(provider.calls) == 1
    assert ledger_count(engine) == ledger
    after = subscription_row(engine)
    if action != "change":
        assert after == before
    else:
        # Plan, interval, status and cancel flag stay; the upgrade's quote is kept on purpose so that a
        # retry is charged the same amount under the same idempotency key (see subscription_actions).
        assert after[0][1:7] == before[0][1:7]
        assert after[0][7] == "business"


def test_a_refusal_of_the_real_stripe_adapter_is_a_502_page_and_nothing_is_subscribed(
    stripe_api, engine, fake
):
    signed_in(stripe_api)
    fake.fail_with = 402

    response = act_signed(stripe_api, "checkout", plan="pro", interval="month", provider="stripe")

    assert response.status_code == 502
    assert dom(response).by_id("error").text
    assert STRIPE_KEY not in response.get_data(as_text=True)
    assert len(fake.requests) == 1
    assert subscription_row(engine) is None


def test_a_refused_cancel_at_stripe_keeps_the_subscription_running(stripe_api, engine, fake):
    subscribed_lately(engine, "stripe")
    before = subscription_row(engine)
    signed_in(stripe_api)
    fake.fail_with = 402

    response = act_signed(stripe_api, "cancel")

    assert response.status_code == 502
    assert dom(response).find(id="cancel-notice") is None
    assert subscription_row(engine) == before


# --- the Plans tab ------------------------------------------------------------------------------


def _plan_facts(article: Node) -> dict[str, str]:
    return {div.find("dt").text: div.find("dd").text for div in article.find_all("div")}


def _usd(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def test_the_plans_tab_lists_every_plan_of_the_table_with_its_terms_and_prices(api, engine):
    committed(
        engine,
        lambda c: set_plan(
            c,
            "team",
            datetime(2026, 1, 1, tzinfo=UTC),
            credits_per_month=2_500_500_000,
            monthly_price_cents=1_234,
        ),
    )
    with engine.connect() as c:
        plans = list_plans(c)
    signed_in(api)

    page = dom(get(api))

    articles = page.by_id("plans").find_all("article")
    assert [a["data-plan"] for a in articles] == [p.code for p in plans]
    assert {p.code for p in plans} == {"free", "starter", "pro", "team", "business"}
    expected = {
        "free": ("0.00", "1", "1", "Basic", "Standard", None, None),
        "starter": ("500.00", "1", "3", "Basic", "Standard", "$10.00", "$96.00"),
        "pro": ("1,000.00", "3", "10", "Full", "Standard", "$20.00", "$192.00"),
        "team": ("2,500.50", "1", "1", "Basic", "Standard", "$12.34", "$118.46"),  # 11,846.4 cents
        "business": ("5,000.00", "10", "50", "Enterprise", "Priority", "$99.00", "$950.40"),
    }
    for plan, article in zip(plans, articles, strict=True):
        credits, orgs, agents, access, support, monthly, yearly = expected[plan.code]
        assert article.by_id(f"plan-{plan.code}-name").text == plan.name
        assert _plan_facts(article) == {
            "Credits per month": credits,
            "Max organizations": orgs,
            "Max agents per organization": agents,
            "API access": access,
            "Support": support,
        }
        if monthly is None:
            assert article.find("p", class_="price").text == "Free"
            continue
        month = article.find("span", class_="price-month")
        year = article.find("span", class_="price-year")
        assert month.text == f"{monthly} / month"
        assert year.text.startswith(f"{yearly} / year")
        assert year.find("span", class_="amount")["data-price-cents"] == str(plan.yearly_price_cents)
        assert f"{_usd(plan.monthly_price_cents * 12)} save 20.0%" in year.text


def _buttons(page: Node) -> dict[str, str]:
    """What each plan card offers: its badge, else the label of its form's button, else ''."""
    out = {}
    for article in page.by_id("plans").find_all("article"):
        badges = [p for p in article.find_all("p") if "current-badge" in p.get("class", "")]
        forms = article.find_all("form")
        button = forms[0].find("button").text if forms else ""
        out[article["data-plan"]] = badges[0].text if badges else button
    return out


def test_without_a_subscription_paid_plans_offer_subscribe_and_free_is_current(api):
    signed_in(api)

    page = dom(get(api))

    assert _buttons(page) == {
        "free": "Current plan",
        "starter": "Subscribe",
        "pro": "Subscribe",
        "business": "Subscribe",
    }
    assert "free" in page.find("article", class_="plan current")["data-plan"]
    form = page.find("article", data_plan="business").find("form")
    assert form["action"] == "/console/organizations/acme/subscription/checkout"
    assert {i["name"]: i["value"] for i in form.find_all("input")} == {
        "csrf": csrf_of(get(api)),
        "plan": "business",
        "interval": "month",
        "provider": "stripe",
    }


def test_a_subscribed_organization_sees_current_plan_upgrade_and_change_plan(api, engine):
    subscribe(engine, "acme", "pro")
    signed_in(api)

    page = dom(get(api))

    assert _buttons(page) == {
        "free": "",
        "starter": "Change plan",
        "pro": "Current plan",
        "business": "Upgrade",
    }
    assert page.by_id("current-plan").text == "Pro"
    pro = page.find("article", data_plan="pro")
    switch = pro.find("form")
    assert switch["action"].endswith("/subscription/change")
    assert {i["name"]: i["value"] for i in switch.find_all("input")}["interval"] == "year"
    for code in ("starter", "business"):
        form = page.find("article", data_plan=code).find("form")
        assert form["action"] == "/console/organizations/acme/subscription/change"
        assert "provider" not in {i["name"] for i in form.find_all("input")}


def test_the_interval_parameter_sets_the_toggle_and_every_plan_form(api, engine):
    signed_in(api)

    monthly, yearly = dom(get(api)), dom(get(api, f"{PAGE}?interval=year"))
    bogus = dom(get(api, f"{PAGE}?interval=fortnight"))

    assert monthly.by_id("plans")["data-interval"] == "month"
    assert yearly.by_id("plans")["data-interval"] == "year"
    assert bogus.by_id("plans")["data-interval"] == "month"
    assert "checked" in yearly.by_id("interval-year").attrs
    assert "checked" not in yearly.by_id("interval-month").attrs
    intervals = {i["value"] for i in yearly.find_all("input", class_="interval-input")}
    assert intervals == {"year"}


def test_a_yearly_subscription_shows_the_yearly_interval_by_default(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=5, length_days=365, interval="year")
    signed_in(api)

    page = dom(get(api))

    assert page.by_id("plans")["data-interval"] == "year"
    assert "billed yearly" in page.by_id("current-subscription").text


def test_with_several_providers_the_page_offers_a_choice_and_with_none_it_says_so(database_url, engine):
    create_org(engine, "acme")
    several = Api(database_url, engine, payments={"stripe": RecordingProvider(), "recurrente": object()})
    none = Api(database_url, engine, payments={})
    signed_in(several)
    signed_in(none)

    choice = dom(get(several)).by_id("provider-choice")
    nothing = dom(get(none))

    assert [o["value"] for o in choice.find_all("option")] == ["stripe", "recurrente"]  # Stripe first
    assert [o.text for o in choice.find_all("option")] == ["Stripe", "Recurrente (Latin America)"]
    assert "cannot be bought here" in nothing.by_id("no-provider").text
    assert nothing.by_id("plans").find_all("form") == []


# --- the Credits tab ----------------------------------------------------------------------------


def test_the_credits_tab_shows_balance_remaining_allocated_and_used_without_alerts(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 200, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=50, at=now)], now=now)
    signed_in(api)

    response = get(api, f"{PAGE}?tab=credits")
    page = dom(response)

    assert page.by_id("tab-credits")["aria-selected"] == "true"
    assert not page.by_id("panel-credits").hidden and page.by_id("panel-plans").hidden
    assert page.by_id("balance-credits").text == "150.00"
    assert page.by_id("remaining-percent").text == "75.00%"
    assert page.by_id("balance-progress")["value"] == "75.00"
    assert page.by_id("allocated-credits").text == "200.00"
    assert page.by_id("used-credits").text == "50.00"
    assert page.find(id="overdraft") is None
    assert page.find(id="expiring-soon") is None


def test_the_balance_refresh_renders_the_current_balance_for_the_page_to_swap_in(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    signed_in(api)
    page = dom(get(api, f"{PAGE}?tab=credits"))
    refresh = page.by_id("refresh-balance")
    assert refresh["data-url"] == "/console/organizations/acme/balance"
    assert page.by_id("balance-summary").find(id="balance-credits").text == "100.00"

    debit(engine, [event("e1", "acme", output_tokens=130, at=now)], now=now)  # into overdraft
    answer = get(api, refresh["data-url"], headers=JSON)

    assert answer.status_code == 200 and answer.mimetype == "application/json"
    fragment = dom(answer.json["html"])
    assert fragment.by_id("balance-credits").text == "-30.00"
    assert fragment.by_id("used-credits").text == "130.00"
    assert fragment.by_id("overdraft").find("strong").text == "30.00"


def test_the_balance_refresh_needs_the_session_of_the_organization(api, engine):
    create_org(engine, "other")
    assert get(api, "/console/organizations/acme/balance").status_code == 401
    signed_in(api)
    refused = get(api, "/console/organizations/other/balance")
    assert refused.status_code == 404 and refused.mimetype == "application/json"


def test_the_credits_tab_shows_an_overdraft_only_when_there_is_one(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 10, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=15, at=now)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    assert page.by_id("balance-credits").text == "-5.00"
    assert page.by_id("remaining-percent").text == "0.00%"
    assert Decimal(page.by_id("balance-progress")["value"]) == 0  # never below the bar's minimum
    alert = page.by_id("overdraft")
    assert alert["role"] == "alert"
    assert alert.find("strong").text == "5.00"


def test_the_credits_tab_lists_only_grants_expiring_within_7_days(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", "30.5", "soon", at=now, expires_at=now + timedelta(days=3))
    grant(engine, "acme", 40, "later", at=now, expires_at=now + timedelta(days=10))
    grant(engine, "acme", 50, "never", at=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    items = page.by_id("expiring-soon").find_all("li")
    assert len(items) == 1
    assert items[0].find("strong").text == "30.50"
    assert day_text(now + timedelta(days=3)) in items[0].text
    assert page.by_id("balance-credits").text == "120.50"


def test_the_history_shows_the_newest_transactions_with_signed_amounts(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    debit(engine, [event("e1", "acme", output_tokens=3, at=now, agent="agent-7", user=None)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    rows = page.by_id("history-rows").find_all("tr")
    assert [r.find_all("td")[3].text for r in rows] == ["-3.00", "+100.00"]
    assert rows[0].find_all("td")[1].text == "agent-7"
    assert rows[0].find_all("td")[2].text == "usage"
    assert page.by_id("load-more").hidden
    assert page.find(id="history-empty") is None


def test_an_organization_without_transactions_says_so(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))

    assert page.by_id("history-rows").find_all("tr") == []
    assert page.by_id("history-empty").text == "No transactions yet."
    assert page.by_id("load-more").hidden


def test_history_text_from_events_is_escaped(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    hostile = '<img src=x onerror="alert(1)">'
    debit(engine, [event("e1", "acme", at=now, agent=hostile, user=None)], now=now)
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))
    more = get(api, f"{MORE}?cursor=dDE6OTk5OTk", headers=JSON)  # rows older than id 99999: all of them

    assert page.find_all("img") == []
    assert page.by_id("history-rows").find_all("tr")[0].find_all("td")[1].text == hostile
    assert dom(more.json["rows_html"]).find_all("img") == []
    assert more.json["rows"] == 2


def test_times_and_days_are_utc_even_when_the_database_session_is_not(database_url, engine):
    """The ledger's instants come back in the session's time zone; the console says "UTC"."""
    from sqlalchemy import create_engine

    setup_prices(engine)
    create_org(engine, "acme")
    now = datetime.now(UTC)
    grant(engine, "acme", 100, "seed", at=now)
    local = create_engine(database_url, connect_args={"options": "-c TimeZone=America/Guatemala"})
    try:
        api = Api(database_url, local, payments={})
        signed_in(api)
        page = dom(get(api, f"{PAGE}?tab=usage"))
    finally:
        local.dispose()

    stamp = page.by_id("history-rows").find("time")
    instant = datetime.fromisoformat(stamp["datetime"]).astimezone(UTC)
    assert stamp.text == f"{day_text(instant)} {instant:%H:%M} UTC"
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert page.by_id("panel-usage").find("p").text.startswith(f"{day_text(month_start)} –")
    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    assert bars[0]["data-day"] == month_start.date().isoformat()
    assert len(bars) == now.day


# --- Load More ----------------------------------------------------------------------------------


def test_load_more_follows_the_cursor_through_every_transaction_once_newest_first(api, engine):
    now = datetime.now(UTC)
    grant(engine, "acme", 1000, "seed", at=now)
    debit(engine, [event(f"e{i}", "acme", output_tokens=1, at=now) for i in range(46)], now=now)
    with engine.connect() as c:
        ids = [r for (r,) in c.execute(text("SELECT id FROM credit_transactions ORDER BY id DESC"))]
    assert len(ids) == 47
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=credits"))
    seen = [int(r["data-transaction-id"]) for r in page.find_all("tr") if "data-transaction-id" in r.attrs]
    assert len(seen) == HISTORY_PAGE == 20
    button = page.by_id("load-more")
    assert not button.hidden
    assert button["data-url"] == MORE
    cursor = button["data-next-cursor"]
    pages = 0
    has_more = True
    while has_more:
        response = get(api, f"{MORE}?cursor={cursor}", headers=JSON)
        assert response.status_code == 200
        body = response.json
        rows = dom(body["rows_html"]).find_all("tr")
        assert body["rows"] == len(rows) > 0
        seen += [int(r["data-transaction-id"]) for r in rows]
        has_more, cursor = body["has_more"], body["next_cursor"]
        assert (cursor is None) == (not has_more)
        pages += 1
    assert seen == ids  # each row once, newest first
    assert pages == 2  # 20 + 20 + 7
    assert response.headers["Cache-Control"] == "no-store"


def test_load_more_with_a_bad_cursor_is_a_400_json_error(api):
    signed_in(api)

    for cursor in ("", "not-a-cursor", "dDE6LTE", "dDI6MTA"):  # empty, junk, t1:-1, t2:10
        response = get(api, f"{MORE}?cursor={cursor}", headers=JSON)
        assert response.status_code == 400, cursor
        assert response.json["error"]["type"] == "validation_error"
        assert "cursor" in response.json["error"]["message"]


# --- the Usage tab ------------------------------------------------------------------------------


def test_the_usage_chart_has_a_bar_per_day_of_the_period_so_far_and_a_row_per_model(api, engine):
    start = manual_subscription(engine, "acme", "pro", started_days_ago=9)
    now = datetime.now(UTC)
    grant(engine, "acme", 10_000, "seed", at=now)
    two_days_ago = now - timedelta(days=2)
    debit(
        engine,
        [
            event("a", "acme", output_tokens=30, at=two_days_ago),
            event("b", "acme", output_tokens=10, at=now),
            event("c", "acme", model="gpt-4o", input_tokens=1000, output_tokens=1000, at=now),
        ],
        now=now,
    )
    signed_in(api)

    response = get(api, f"{PAGE}?tab=usage")
    page = dom(response)

    assert page.by_id("tab-usage")["aria-selected"] == "true" and not page.by_id("panel-usage").hidden
    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    days = [start.date() + timedelta(days=i) for i in range((now.date() - start.date()).days + 1)]
    assert len(days) == 10
    assert [b["data-day"] for b in bars] == [d.isoformat() for d in days]
    by_day = {b["data-day"]: b for b in bars}
    assert by_day[two_days_ago.date().isoformat()]["data-credits"] == "30.00"
    assert by_day[now.date().isoformat()]["data-credits"] == "11.25"  # 10 + gpt-4o's 1.25
    empty = [
        b for d, b in by_day.items() if d not in (two_days_ago.date().isoformat(), now.date().isoformat())
    ]
    assert all(b["data-credits"] == "0.00" and float(b["height"]) == 0 for b in empty)
    tall, short = by_day[two_days_ago.date().isoformat()], by_day[now.date().isoformat()]
    assert float(tall["height"]) > float(short["height"]) > 0
    assert abs(float(short["height"]) / float(tall["height"]) - 11.25 / 30) < 0.01
    last = (start + timedelta(days=30) - timedelta(microseconds=1)).date()  # the end instant is exclusive
    assert (
        f"10 days of usage out of {(last - start.date()).days + 1} in the period"
        in page.by_id("chart-desc").text
    )
    assert page.find(id="forecast-pace") is not None  # usage in the last 7 days, days to go

    models = {
        r["data-model"]: [c.text for c in r.find_all()]
        for r in page.by_id("models").find_all("tr")
        if "data-model" in r.attrs
    }
    assert models == {
        "unit-model": ["unit-model", "40.00", "97.0%", "2", "0", "40"],
        "gpt-4o": ["gpt-4o", "1.25", "3.0%", "1", "1,000", "1,000"],
    }
    assert page.by_id("usage-total").text == "41.25"


def test_the_usage_tab_without_usage_has_empty_bars_no_pace_and_no_models(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=4)
    grant(engine, "acme", 100, "seed", at=datetime.now(UTC))
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=usage"))

    bars = page.by_id("usage-chart").find_all("rect", class_="bar")
    assert len(bars) == 5
    assert all(b["height"] == "0.0" for b in bars)
    assert page.find(id="forecast-pace") is None
    assert "No usage this period yet." in page.by_id("models").text
    assert "No run-out" in page.by_id("forecast").text


# --- security headers, markup and accessibility -----------------------------------------------


def _pages(api: Api, engine: Any) -> list[tuple[str, Any]]:
    """Every kind of console response, for checks that apply to all of them."""
    anonymous = [("sign-in", get(api, "/console/sign-in")), ("401", get(api))]
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)
    signed = [(f"tab {tab}", get(api, f"{PAGE}?tab={tab}")) for tab in ("plans", "credits", "usage")]
    signed += [
        ("confirm", get(api, f"{PAGE}?confirm=cancel")),
        ("error", get(api, "/console/organizations/beta/subscription")),
        ("refusal", act_signed(api, "checkout", plan="pro", interval="month", provider="stripe")),
    ]
    return anonymous + signed


def test_console_responses_carry_a_strict_csp_and_frame_and_cache_protection(api, engine):
    responses = _pages(api, engine)
    responses.append(("json", get(api, f"{MORE}?cursor=dDE6MTA", headers=JSON)))
    responses.append(("redirect", act_signed(api, "cancel")))
    static = get(api, "/console/static/console.js")

    for name, response in [*responses, ("static", static)]:
        csp = response.headers.get("Content-Security-Policy", "")
        assert "'unsafe-inline'" not in csp and "unsafe-eval" not in csp, name
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
    for name, response in responses:
        assert response.headers["Cache-Control"] == "no-store", name
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_console_pages_have_no_inline_script_or_style_that_the_csp_would_block(api, engine):
    for name, response in _pages(api, engine):
        page = dom(response)
        scripts = page.find_all("script")
        assert scripts and all(s.get("src", "").startswith("/console/static/") for s in scripts), name
        assert all(not s.text for s in scripts), name
        assert page.find_all("style") == [], name
        for node in page.walk():
            assert "style" not in node.attrs, (name, node.tag)
            assert not [a for a in node.attrs if a.startswith("on")], (name, node.tag)


def test_every_page_has_one_h1_and_every_control_has_a_label(api, engine):
    for name, response in _pages(api, engine):
        page = dom(response)
        assert response.mimetype == "text/html", name
        assert len(page.find_all("h1")) == 1, name
        assert page.find("html")["lang"] == "en"
        labelled = {label["for"] for label in page.find_all("label") if "for" in label.attrs}
        for control in page.walk():
            if control.tag not in ("input", "select", "textarea") or control.get("type") == "hidden":
                continue
            assert control.get("id") in labelled or control.get("aria-label"), (name, control.attrs)
        for button in page.find_all("button"):
            assert button.text or button.get("aria-label"), (name, button.attrs)
        ids = [n["id"] for n in page.walk() if "id" in n.attrs]
        assert len(ids) == len(set(ids)), (name, sorted(i for i in ids if ids.count(i) > 1))


@pytest.mark.parametrize("tab", ["plans", "credits", "usage"])
def test_the_tabs_are_an_aria_tablist_with_the_chosen_tab_selected(api, tab):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab={tab}"))

    tabs = page.find("div", role="tablist").find_all(role="tab")
    assert [t["id"] for t in tabs] == ["tab-plans", "tab-credits", "tab-usage"]
    for t in tabs:
        panel = page.by_id(t["aria-controls"])
        chosen = t["id"] == f"tab-{tab}"
        assert panel["role"] == "tabpanel" and panel["aria-labelledby"] == t["id"]
        assert t["aria-selected"] == ("true" if chosen else "false")
        assert t["tabindex"] == ("0" if chosen else "-1")
        assert panel.hidden is not chosen


def test_an_unknown_notice_shows_nothing(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?notice=<b>pwned</b>"))

    assert page.find(id="notice") is None
    assert page.find_all("b") == []


def test_an_unknown_tab_falls_back_to_plans(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=<script>"))

    assert page.by_id("tab-plans")["aria-selected"] == "true"
    assert not page.by_id("panel-plans").hidden


def test_the_forecast_shows_credits_running_out_before_the_period_ends(api, engine):
    manual_subscription(engine, "acme", "pro", started_days_ago=2)
    now = datetime.now(UTC)
    grant(engine, "acme", 70, "seed", at=now)
    debit(engine, [event("big", "acme", output_tokens=70, at=now)], now=now)  # 10 a day over 7 days
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=usage"))

    lasts = page.by_id("plan-lasts")
    assert "warn" in lasts["class"] and "Not enough to last" in lasts.text
    assert page.by_id("run-out-date").text == day_text(now)  # nothing left: today
    assert Decimal(page.by_id("usage-total").text) == Decimal(70)
