"""The webhook receiver: only authentic deliveries reach the inbox, each once, and are enqueued once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from billing_core.settings import Settings
from tests.support.pipeline import join_all
from tests.support.webhook_payloads import (
    RECURRENTE_SECRET,
    STRIPE_SECRET,
    dumps,
    now,
    recurrente_payment_succeeded,
    sign_recurrente,
    sign_stripe,
    stripe_invoice_paid,
)
from webhooks.app import create_app


@pytest.fixture
def receiver(database_url, engine):  # type: ignore[no-untyped-def]
    enqueued: list[int] = []
    settings = Settings(
        database_url=database_url,
        stripe_webhook_secret=SecretStr(STRIPE_SECRET),
        recurrente_webhook_secret=SecretStr(RECURRENTE_SECRET),
    )
    app = create_app(settings, engine, enqueue=enqueued.append)
    return app.test_client(), enqueued, engine


def inbox(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(text("SELECT provider, external_id, event_type, status FROM webhook_inbox"))
        ]


def post_stripe(client, body: str, signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/webhooks/stripe", data=body, headers=headers)


def test_a_signed_stripe_event_is_stored_once_and_enqueued_once_however_often_it_is_delivered(receiver):
    client, enqueued, engine = receiver
    body = dumps(stripe_invoice_paid())
    first = post_stripe(client, body, sign_stripe(body))
    again = post_stripe(client, body, sign_stripe(body))
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.get_json()["duplicate"], again.get_json()["duplicate"]) == (False, True)
    assert inbox(engine) == [("stripe", "evt_invoice_paid", "invoice.paid", "pending")]
    assert len(enqueued) == 1


def test_the_same_event_delivered_twice_concurrently_is_stored_and_enqueued_once(receiver):
    client, enqueued, engine = receiver
    body = dumps(stripe_invoice_paid(event_id="evt_race"))
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def deliver() -> None:
        local = client.application.test_client()
        barrier.wait()
        codes.append(post_stripe(local, body, sign_stripe(body)).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    join_all(threads, 30)
    assert codes == [200] * 4
    assert len(inbox(engine)) == 1 and len(enqueued) == 1


@pytest.mark.parametrize(
    "case",
    ["forged", "tampered", "wrong-secret", "stale", "future", "missing-header", "not-json"],
)
def test_an_inauthentic_or_unacceptable_stripe_delivery_is_refused_and_changes_nothing(receiver, case):
    client, enqueued, engine = receiver
    body = dumps(stripe_invoice_paid())
    signature = {
        "forged": f"t={now()},v1={'0' * 64}",
        "tampered": sign_stripe(body),
        "wrong-secret": sign_stripe(body, secret="whsec_other"),
        "stale": sign_stripe(body, timestamp=now() - 301),
        "future": sign_stripe(body, timestamp=now() + 301),
        "missing-header": None,
        "not-json": sign_stripe("not json"),
    }[case]
    sent = {"tampered": body.replace("2000", "9000"), "not-json": "not json"}.get(case, body)
    response = post_stripe(client, sent, signature)
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["type"] == "refused"
    assert inbox(engine) == [] and enqueued == []


def test_a_body_over_one_megabyte_is_refused_before_anything_is_stored(receiver):
    client, enqueued, engine = receiver
    body = '{"pad": "' + "x" * (1024 * 1024) + '"}'
    response = post_stripe(client, body, sign_stripe(body))
    assert response.status_code == 413 and response.get_json()["error"]["type"] == "request_entity_too_large"
    assert inbox(engine) == [] and enqueued == []


def test_during_secret_rotation_a_delivery_with_one_valid_signature_of_two_is_accepted(receiver):
    client, _, engine = receiver
    body = dumps(stripe_invoice_paid())
    valid = sign_stripe(body)
    old = sign_stripe(body, secret="whsec_previous").split(",")[1]
    assert post_stripe(client, body, f"{valid},{old}").status_code == 200
    assert len(inbox(engine)) == 1


def test_an_unset_or_empty_secret_disables_the_endpoint_instead_of_verifying_with_an_empty_key(
    database_url, engine
):
    settings = Settings(database_url=database_url, stripe_webhook_secret=SecretStr(""))
    client = create_app(settings, engine).test_client()
    body = dumps(stripe_invoice_paid())
    response = post_stripe(client, body, sign_stripe(body, secret=""))
    assert response.status_code == 404 and response.get_json()["error"]["type"] == "disabled"
    assert client.post("/webhooks/recurrente", data=body).status_code == 404
    assert inbox(engine) == []


def test_a_signed_recurrente_event_is_stored_under_its_svix_id_once(receiver):
    client, enqueued, engine = receiver
    body = dumps(recurrente_payment_succeeded())
    headers = sign_recurrente(body, "msg_abc")
    for _ in range(2):
        response = client.post("/webhooks/recurrente", data=body, headers=headers)
        assert response.status_code == 200
    assert inbox(engine) == [("recurrente", "msg_abc", "payment_intent.succeeded", "pending")]
    assert len(enqueued) == 1


@pytest.mark.parametrize("case", ["wrong-secret", "stale", "future", "missing-header", "tampered"])
def test_an_inauthentic_recurrente_delivery_is_refused_and_changes_nothing(receiver, case):
    client, enqueued, engine = receiver
    body = dumps(recurrente_payment_succeeded())
    at = {
        "stale": datetime.now(UTC) - timedelta(minutes=6),
        "future": datetime.now(UTC) + timedelta(minutes=6),
    }
    headers = sign_recurrente(
        body,
        "msg_x",
        secret=RECURRENTE_SECRET if case != "wrong-secret" else "whsec_" + "QUJD" * 8,
        at=at.get(case),
    )
    if case == "missing-header":
        headers.pop("svix-signature")
    sent = body.replace("2000", "1") if case == "tampered" else body
    response = client.post("/webhooks/recurrente", data=sent, headers=headers)
    assert 400 <= response.status_code < 500
    assert inbox(engine) == [] and enqueued == []
