"""success_url, cancel_url and return_url may only send the payer to this deployment's public host
or to ALLOWED_REDIRECT_HOSTS, over https (http only for localhost in development): anything else
is a 400 naming the field, before any provider is called. The console's own return URLs are built
on PUBLIC_URL, whatever Host header the request carries."""

from __future__ import annotations

import pytest

from billing_core.redirects import RedirectPolicy
from tests.support.api import Api, error_of
from tests.support.console import PAGE, csrf_of, get, session_cookie, signed_in
from tests.support.ledger import create_org, setup_prices
from tests.support.providers import RecordingProvider
from tests.support.purchases import with_packs
from tests.support.subscriptions import subscribed_lately

SUB = "/v1/organizations/acme/subscription"
GOOD = "https://billing.example.com/done"
REFUSED = [
    "https://evil.example.net/phish",
    "http://billing.example.com/done",  # plain http, off localhost
    "https://billing.example.com.evil.net/x",
    "https://user@evil.example.net/x",
    "https://billing.example.com@evil.example.net/x",
    "https://evil.example.net\\@billing.example.com/x",
    "http://localhost/x",  # not development: PUBLIC_URL is set
]


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def api(database_url, engine, provider):
    setup_prices(engine)
    with_packs(engine)
    create_org(engine, "acme")
    return Api(
        database_url,
        engine,
        payments={"stripe": provider},
        public_url="https://billing.example.com",
        allowed_redirect_hosts="shop.example.org, Partner.Example.com",
    )


def requests_for(field: str, url: str) -> list[tuple[str, dict[str, str]]]:
    other = "cancel_url" if field == "success_url" else "success_url"
    pair = {field: url, other: GOOD}
    return [
        (f"{SUB}/checkout", {"plan": "pro", "interval": "month", "provider": "stripe", **pair}),
        (f"{SUB}/change", {"plan": "business", "interval": "month", **pair}),
        ("/v1/organizations/acme/purchases/checkout", {"pack": "small", "provider": "stripe", **pair}),
    ]


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
@pytest.mark.parametrize("url", REFUSED)
def test_a_checkout_change_or_purchase_to_another_host_is_400_naming_the_field(api, provider, field, url):
    for path, body in requests_for(field, url):
        response = api.post(path, json=body)
        assert response.status_code == 400, (path, response.json)
        assert error_of(response)["field"] == field
    assert provider.calls == []


@pytest.mark.parametrize("url", REFUSED)
def test_a_portal_return_url_to_another_host_is_400_naming_it(api, engine, provider, url):
    subscribed_lately(engine, "stripe")
    response = api.post(f"{SUB}/portal", json={"return_url": url})

    assert response.status_code == 400
    assert error_of(response)["field"] == "return_url"
    assert provider.calls == []


@pytest.mark.parametrize(
    "url",
    [
        GOOD,
        "https://shop.example.org/ok",
        "https://partner.example.com:8443/ok",
        "https://BILLING.example.com/x",
    ],
)
def test_https_urls_on_the_public_host_or_the_allowed_hosts_are_accepted(api, url):
    urls = {"success_url": url, "cancel_url": url}
    checkout = api.post(
        f"{SUB}/checkout", json={"plan": "pro", "interval": "month", "provider": "stripe", **urls}
    )
    purchase = api.post(
        "/v1/organizations/acme/purchases/checkout", json={"pack": "small", "provider": "stripe", **urls}
    )

    assert (checkout.status_code, purchase.status_code) == (200, 200), (checkout.json, purchase.json)


def test_the_portal_accepts_an_allowed_return_url(api, engine, provider):
    subscribed_lately(engine, "stripe")
    assert api.post(f"{SUB}/portal", json={"return_url": "https://shop.example.org/back"}).status_code == 200


def test_in_development_http_is_accepted_only_for_localhost():
    development = RedirectPolicy.of(None, "")
    assert development.allows("http://localhost:8000/console")
    assert development.allows("http://127.0.0.1/x") and development.allows("https://localhost/x")
    assert not development.allows("http://example.com/x") and not development.allows("https://example.com/x")
    local = RedirectPolicy.of("http://localhost:8000", "")
    assert local.allows("http://localhost:9000/x")
    production = RedirectPolicy.of("https://billing.example.com", "")
    assert not production.allows("http://localhost/x") and not production.allows("javascript:alert(1)")
    assert production.allows("https://billing.example.com/x")


def as_host(api: Api, host: str | None, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    """POST the console form with this session's cookie and a Host header of the client's choosing."""
    client = api.app.test_client(use_cookies=False)
    headers = {"Cookie": f"billing_console={session_cookie(api)}"}
    if host:
        headers |= {"Host": host, "X-Forwarded-Host": host}
    return client.post(path, data=form, headers=headers)


@pytest.mark.parametrize("host", [None, "evil.example.net"])
def test_the_consoles_return_urls_are_on_public_url_even_with_a_forged_host(api, engine, provider, host):
    signed_in(api)
    subscribed_lately(engine, "stripe")
    csrf = csrf_of(get(api))

    portal = as_host(api, host, f"{PAGE}/portal", {"csrf": csrf})

    assert portal.status_code == 303, portal.get_data(as_text=True)[:500]
    [(kind, _customer, return_url)] = provider.calls
    assert kind == "portal" and return_url == f"https://billing.example.com{PAGE}?tab=plans"


def test_the_consoles_checkout_returns_to_public_url_with_a_forged_host(api, provider):
    signed_in(api)
    csrf = csrf_of(get(api))

    response = as_host(
        api,
        "evil.example.net",
        f"{PAGE}/checkout",
        {"plan": "pro", "interval": "month", "provider": "stripe", "csrf": csrf},
    )

    assert response.status_code == 303
    [(_kind, _org, _plan, _interval, success, cancel, _key)] = provider.calls
    assert success.startswith(f"https://billing.example.com{PAGE}?") and cancel.startswith(
        f"https://billing.example.com{PAGE}?"
    )
