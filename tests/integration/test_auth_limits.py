"""Rate limits around authentication: failed authentications per client address, shared by every
API process through PostgreSQL (one row per address, however many junk tokens), refused before any
database work once over; the per-credential bucket keyed by the authenticated identity; the client
address behind trusted proxies only."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.ratelimit import client_address, parse_networks
from tests.support.api import Api, error_of
from tests.support.ledger import create_org

BALANCE = "/v1/organizations/acme/balance"


def failure_rows(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [
            tuple(r) for r in c.execute(text("SELECT address, failures FROM auth_failures ORDER BY address"))
        ]


def from_address(api: Api, address: str, token: str, **headers: str):  # type: ignore[no-untyped-def]
    return api.get(BALANCE, token=token, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_junk_tokens_count_per_address_and_past_the_limit_answer_429_without_database_work(
    database_url, engine
):
    create_org(engine, "acme")
    api = Api(database_url, engine, auth_failure_limit=20)
    key = api.new_key("acme")["key"]

    statuses = [from_address(api, "192.0.2.1", f"bk_live_junk{i:04d}_x").status_code for i in range(50)]

    assert statuses == [401] * 20 + [429] * 30
    assert failure_rows(engine) == [("192.0.2.1", 20)]  # one row; nothing written past the limit
    limited = from_address(api, "192.0.2.1", key)
    assert limited.status_code == 429  # a valid key from that address waits too
    assert error_of(limited)["type"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert from_address(api, "192.0.2.2", key).status_code == 200  # other addresses are not limited


def test_the_window_passes_and_the_address_may_try_again(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, auth_failure_limit=2)
    key = api.new_key("acme")["key"]
    assert [from_address(api, "192.0.2.1", "junk").status_code for _ in range(3)] == [401, 401, 429]

    api.clock.advance(seconds=61)

    assert from_address(api, "192.0.2.1", key).status_code == 200


def test_the_failure_count_holds_across_api_processes(database_url, engine):
    """Two apps with their own memory (as two processes of `billing api --processes 2`) share the
    count in PostgreSQL: the address is refused after the limit, wherever its failures went."""
    create_org(engine, "acme")
    first, second = (Api(database_url, engine, auth_failure_limit=10) for _ in range(2))
    key = first.new_key("acme")["key"]

    statuses = [
        from_address(app, "192.0.2.9", "junk").status_code for _ in range(5) for app in (first, second)
    ]
    assert statuses == [401] * 10
    # The process that recorded the 10th failure refuses at once; the other learns at its next failure.
    assert from_address(second, "192.0.2.9", key).status_code == 429
    assert from_address(first, "192.0.2.9", "junk").status_code == 401
    assert from_address(first, "192.0.2.9", key).status_code == 429
    assert failure_rows(engine) == [("192.0.2.9", 11)]


def test_a_missing_header_is_401_and_counts_nothing(database_url, engine):
    api = Api(database_url, engine)

    assert api.get(BALANCE, token=None).status_code == 401
    assert failure_rows(engine) == []


def test_the_per_credential_bucket_is_keyed_by_identity_and_junk_creates_no_bucket(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, api_rate_limit_per_second=0.01, api_rate_limit_burst=2)
    issued = api.new_key("acme")
    key = issued["key"]
    for i in range(30):
        from_address(api, f"198.51.100.{i}", f"junk-{i}")  # no bucket for any of these

    assert [api.get(BALANCE, token=key).status_code for _ in range(3)] == [200, 200, 429]
    assert api.get(BALANCE).status_code == 200  # the admin has a bucket of its own (new_key took one)
    buckets = api.app.extensions["billing"].limiter._buckets
    assert set(buckets) == {"admin", f"key:{issued['id']}"}


def test_console_pages_are_limited_per_session_credential(database_url, engine):
    from tests.support.console import get, signed_in

    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, api_rate_limit_per_second=0.01, api_rate_limit_burst=2)
    signed_in(api)

    assert [get(api).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        ("203.0.113.5", "1.2.3.4", "", "203.0.113.5"),  # no trusted proxies: the header is ignored
        ("10.0.0.2", "1.2.3.4", "10.0.0.0/8", "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.3", "10.0.0.0/8", "1.2.3.4"),  # rightmost untrusted
        ("203.0.113.5", "1.2.3.4", "10.0.0.0/8", "203.0.113.5"),  # an untrusted peer's header is not read
        ("10.0.0.2", None, "10.0.0.0/8", "10.0.0.2"),
    ],
)
def test_the_client_address(peer, forwarded, proxies, client):
    assert client_address(peer, forwarded, parse_networks(proxies)) == client


def test_behind_a_trusted_proxy_failures_count_per_forwarded_address(database_url, engine):
    api = Api(database_url, engine, auth_failure_limit=1, trusted_proxies="127.0.0.1")

    from_address(api, "127.0.0.1", "junk", **{"X-Forwarded-For": "192.0.2.50"})
    assert from_address(api, "127.0.0.1", "junk", **{"X-Forwarded-For": "192.0.2.50"}).status_code == 429
    assert from_address(api, "127.0.0.1", "junk", **{"X-Forwarded-For": "192.0.2.51"}).status_code == 401
