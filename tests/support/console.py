"""Driving the billing console through the Flask test client: its paths, signing in, posting its
forms (with the page's csrf value) and reading its cookie, redirects and what an action changed."""

from __future__ import annotations

import re
import urllib.parse
from datetime import datetime
from typing import Any

from sqlalchemy import text

from tests.support.api import Api

PAGE = "/console/organizations/acme/subscription"
MORE = "/console/organizations/acme/transactions"
STRIPE_KEY = "sk_test_console_key"
JSON = {"Accept": "application/json"}  # what the page's script sends for Load More


def login_csrf(api: Api) -> str:
    """The CSRF value of the sign-in form (its nonce cookie is now in the client). A session cookie
    is dropped first (with one, the form redirects to the page), as if signing in anew."""
    api.client.delete_cookie("billing_console", path="/console")
    form = api.client.get("/console/sign-in")
    values = re.findall(r'name="csrf" value="([^"]*)"', form.get_data(as_text=True))
    return values[0] if values else ""


def sign_in(api: Api, token: str, organization: str = "") -> Any:
    """Post the sign-in form as a browser does: its page first, then the form with its csrf value."""
    data = {"token": token, "organization": organization, "csrf": login_csrf(api)}
    return api.client.post("/console/sign-in", data=data)


def sign_out(api: Api) -> Any:
    """The page's Sign out button (with the page's csrf value)."""
    page = get(api)
    values = re.findall(r'name="csrf" value="([^"]*)"', page.get_data(as_text=True))
    return api.client.post("/console/sign-out", data={"csrf": values[0] if values else ""})


def session_cookie(api: Api) -> str:
    cookie = api.client.get_cookie("billing_console", path="/console")
    return cookie.value if cookie is not None else ""


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
