"""Console sessions kept on the server: a copied cookie stops working after the idle timeout, after
the absolute lifetime, when its key is revoked and when the admin token changes; last_seen_at is
written at most once a minute; the row holds a hash of the cookie, never the cookie or the key.
Time is the app's clock, moved (no sleeping)."""

from __future__ import annotations

from sqlalchemy import text

from billing_core.access.console_sessions import Lifetimes, list_sessions, revoke_sessions
from tests.support.api import ADMIN, Api
from tests.support.console import get, session_cookie, sign_in, signed_in
from tests.support.ledger import committed, create_org


def rows(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.execute(text("SELECT * FROM console_sessions ORDER BY id")).mappings().all()


def copy_works(api: Api, cookie: str) -> bool:
    """Whether a copy of the cookie, in a browser of its own, opens the page."""
    other = api.app.test_client()
    other.set_cookie("billing_console", cookie, path="/console")
    return bool(other.get("/console/organizations/acme/subscription").status_code == 200)


def test_the_row_holds_the_hash_of_the_session_id_and_who_it_stands_for(api, engine):
    key = signed_in(api)
    cookie = session_cookie(api)

    [row] = rows(engine)
    assert row["token_hash"] != cookie and len(row["token_hash"]) == 64
    assert (row["identity_kind"], row["organization_id"], row["source_address"]) == (
        "api_key",
        "acme",
        "127.0.0.1",
    )
    assert row["api_key_id"] is not None and row["display_name"] == f"API key {key[:16]}"
    assert cookie not in str(dict(row)) and key not in str(dict(row))
    assert copy_works(api, cookie)


def test_an_idle_session_ends_after_the_idle_timeout_and_use_keeps_it_alive(api):
    signed_in(api)
    cookie = session_cookie(api)

    api.clock.advance(minutes=20)
    assert get(api).status_code == 200  # used: last seen now
    api.clock.advance(minutes=20)
    assert copy_works(api, cookie)  # 20 minutes since the last use
    api.clock.advance(minutes=31)
    assert not copy_works(api, cookie)
    assert get(api).status_code == 401


def test_a_session_ends_after_its_absolute_lifetime_however_used(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine, payments={}, console_session_max_hours=1)
    signed_in(api)
    cookie = session_cookie(api)

    for _ in range(5):
        api.clock.advance(minutes=11)
        assert get(api).status_code == 200
    api.clock.advance(minutes=6)  # 61 minutes after sign-in
    assert not copy_works(api, cookie)


def test_last_seen_is_written_at_most_once_a_minute(api, engine):
    signed_in(api)
    first = rows(engine)[0]["last_seen_at"]

    for _ in range(5):
        assert get(api).status_code == 200
    assert rows(engine)[0]["last_seen_at"] == first
    api.clock.advance(seconds=61)
    assert get(api).status_code == 200
    assert rows(engine)[0]["last_seen_at"] > first


def test_revoking_the_key_ends_a_copied_cookie_too(api):
    issued = api.new_key("acme")
    assert sign_in(api, issued["key"]).status_code == 303
    cookie = session_cookie(api)
    assert copy_works(api, cookie)

    assert api.delete(f"/v1/organizations/acme/api-keys/{issued['id']}").status_code == 200

    assert not copy_works(api, cookie)


def test_an_admin_session_lasts_only_while_the_admin_token_is_unchanged(database_url, engine, api):
    assert sign_in(api, ADMIN, "acme").status_code == 303
    cookie = session_cookie(api)
    assert copy_works(api, cookie)
    [row] = rows(engine)
    assert row["identity_kind"] == "admin_token" and ADMIN not in str(dict(row))

    rotated = Api(database_url, engine, payments={}, admin_token="a-new-admin-token")
    assert not copy_works(rotated, cookie)
    assert copy_works(api, cookie)  # a process still on the old token: the session holds there


def test_revoking_sessions_ends_them_and_listing_shows_live_ones(api, engine):
    create_org(engine, "beta")
    signed_in(api)
    acme = session_cookie(api)
    assert sign_in(api, ADMIN, "beta").status_code == 303
    beta = session_cookie(api)
    now = api.clock()
    limits = Lifetimes.of(30, 8)

    live = committed(engine, lambda c: list_sessions(c, now, limits))
    assert [(s.identity_kind, s.organization_id, s.status) for s in live] == [
        ("admin_token", "beta", "live"),
        ("api_key", "acme", "live"),
    ]
    ended = committed(engine, lambda c: revoke_sessions(c, now, organization_id="beta"))
    assert ended == [live[0].id]
    assert not copy_works(api, beta) and copy_works(api, acme)
    everything = committed(engine, lambda c: list_sessions(c, now, limits, include_ended=True))
    assert [s.status for s in everything] == ["ended", "live"]
    assert committed(engine, lambda c: revoke_sessions(c, now, every=True)) == [live[1].id]
    assert not copy_works(api, acme)


def test_an_admin_opening_another_organization_is_recorded_on_its_session(api, engine):
    create_org(engine, "beta")
    assert sign_in(api, ADMIN, "acme").status_code == 303

    assert api.client.get("/console/open?organization=beta").status_code == 302
    assert api.client.get("/console/open?organization=nobody").status_code == 404

    assert rows(engine)[0]["organization_id"] == "beta"


def test_the_admin_api_lists_and_ends_console_sessions(api):
    key = signed_in(api)
    cookie = session_cookie(api)

    listed = api.get("/v1/console-sessions")
    assert listed.status_code == 200
    [session] = listed.json["data"]
    assert (session["identity_kind"], session["organization_id"], session["status"]) == (
        "api_key",
        "acme",
        "live",
    )
    assert api.get("/v1/console-sessions", token=key).status_code == 403  # an organization key may not

    ended = api.delete(f"/v1/console-sessions/{session['id']}")
    assert ended.json == {"ended": [session["id"]]}
    assert not copy_works(api, cookie)
    assert api.delete(f"/v1/console-sessions/{session['id']}").json == {"ended": []}
    assert api.get("/v1/console-sessions").json == {"data": []}
    assert [s["status"] for s in api.get("/v1/console-sessions?all=true").json["data"]] == ["ended"]
