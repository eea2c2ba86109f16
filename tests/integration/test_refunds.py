"""Refunds for failed interactions: exact, idempotent, in any order with the debit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from billing_core.errors import NothingToRefund
from billing_core.ledger.refund_requests import refund_interaction
from tests.support.api import Api
from tests.support.ledger import T0, balance, committed, cr, create_org, grant, setup_prices, violations
from tests.support.refunds import charge, failure, flag, report, wire_event


def _rows(engine, sql, **params):  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


@pytest.fixture
def acme(engine):  # type: ignore[no-untyped-def]
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "seed")
    return engine


def test_three_messages_and_one_fails_leaves_the_balance_as_if_it_never_happened(acme):
    charge(
        acme,
        [
            wire_event("m1", output_tokens=5),
            wire_event("m2", output_tokens=12),
            wire_event("m3", output_tokens=7),
        ],
    )
    result = report(acme, [failure("m2")])
    assert result.refunded == ["m2"]
    assert balance(acme, "acme").balance == cr(100) - cr(5) - cr(7)
    history = _rows(
        acme, "SELECT type, amount, description FROM credit_transactions ORDER BY id DESC LIMIT 1"
    )
    assert history == [("refund", cr(12), "Refund of interaction m2: agent crashed")]
    assert violations(acme) == []


def test_a_failure_reported_twice_refunds_once(acme):
    charge(acme, [wire_event("m1", output_tokens=12)])
    report(acme, [failure("m1"), failure("m1")])
    report(acme, [failure("m1", reason="retried report")])
    assert _rows(acme, "SELECT count(*) FROM credit_transactions WHERE type = 'refund'") == [(1,)]
    assert balance(acme, "acme").balance == cr(100)


def test_a_failure_that_arrives_before_its_debit_is_refunded_when_the_debit_arrives(acme):
    early = report(acme, [failure("m1")])
    assert early.waiting == ["m1"] and balance(acme, "acme").balance == cr(100)
    charged = charge(acme, [wire_event("m1", output_tokens=12), wire_event("m2", output_tokens=3)])
    assert charged.refunded == ["m1"]
    assert balance(acme, "acme").balance == cr(97)
    charge(acme, [wire_event("m1", output_tokens=12)])  # a duplicate delivery of the debit changes nothing
    assert balance(acme, "acme").balance == cr(97)
    assert violations(acme) == []


def test_a_failure_whose_debit_never_arrives_is_flagged_after_the_wait_and_settled_if_it_comes(acme):
    report(acme, [failure("ghost")], now=T0)
    assert flag(acme, T0 + timedelta(minutes=30), timedelta(hours=1)) == 0
    assert flag(acme, T0 + timedelta(hours=2), timedelta(hours=1)) == 1
    assert flag(acme, T0 + timedelta(hours=3), timedelta(hours=1)) == 0  # flagged once
    flagged = _rows(acme, "SELECT reason, event_id, status FROM rejected_events")
    assert flagged == [("unmatched_refund", "ghost", "pending")]
    charge(acme, [wire_event("ghost", output_tokens=4)])
    assert balance(acme, "acme").balance == cr(100)
    assert _rows(acme, "SELECT status FROM rejected_events") == [("resolved",)]


def test_a_failure_naming_another_organizations_event_refunds_nothing(acme):
    create_org(acme, "other")
    charge(acme, [wire_event("m1", output_tokens=12)])
    result = report(acme, [failure("m1", org="other")])
    assert result.refunded == []
    assert balance(acme, "acme").balance == cr(88)
    assert _rows(acme, "SELECT reason, event_id FROM rejected_events") == [("organization_mismatch", "m1")]


def test_malformed_and_unknown_organization_reports_are_kept_with_reasons(acme):
    bad = {**failure("m1"), "reason": ""}
    result = report(acme, [bad, failure("m2", org="nobody")])
    assert sorted(r.reason for r in result.rejected) == ["malformed", "unknown_organization"]
    assert len(_rows(acme, "SELECT id FROM rejected_events")) == 2


def test_an_admin_refund_is_once_per_interaction_and_only_for_the_organizations_own_debit(acme):
    create_org(acme, "other")
    charge(acme, [wire_event("m1", output_tokens=12)])
    first = committed(acme, lambda c: refund_interaction(c, "acme", "m1", "customer complaint", T0))
    again = committed(acme, lambda c: refund_interaction(c, "acme", "m1", "customer complaint", T0))
    assert (first.created, first.amount, again.created) == (True, cr(12), False)
    report(acme, [failure("m1")])  # a late failure report for the same interaction: nothing more
    assert balance(acme, "acme").balance == cr(100)
    with pytest.raises(NothingToRefund):
        committed(acme, lambda c: refund_interaction(c, "other", "m1", "wrong org", T0))
    with pytest.raises(NothingToRefund):
        committed(acme, lambda c: refund_interaction(c, "acme", "never-charged", "typo", T0))


def test_an_admin_refund_over_http_takes_an_idempotency_key_and_answers_a_replay_identically(
    database_url, acme
):
    charge(acme, [wire_event("m1", output_tokens=12), wire_event("m2", output_tokens=3)])
    api = Api(database_url, acme)
    path = "/v1/organizations/acme/refunds"
    body = {"event_id": "m1", "reason": "customer complaint"}
    first = api.post(path, json=body, headers={"Idempotency-Key": "r-1"})
    again = api.post(path, json=body, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert first.get_json()["transaction"]["amount"] == "12.000000"
    assert first.get_json()["balance"] == "97.000000"
    other = api.post(path, json={"event_id": "m2", "reason": "x"}, headers={"Idempotency-Key": "r-1"})
    assert other.status_code == 409
    missing = api.post(path, json={"event_id": "nope", "reason": "x"}, headers={"Idempotency-Key": "r-2"})
    assert missing.status_code == 404 and missing.get_json()["error"]["type"] == "not_found"
    no_key = api.post(path, json=body)
    assert no_key.status_code == 400
    assert balance(acme, "acme").balance == cr(97)
