"""Deeply nested JSON is refused with a 400 in the JSON error shape, before authentication and
before any parser, on every entrypoint that reads JSON: an API endpoint, the event ingestion
(plain and gzipped) and the webhook receivers (unsigned or validly signed)."""

from __future__ import annotations

import gzip

import pytest
from pydantic import SecretStr

from billing_core.json_depth import MAX_DEPTH, too_deep
from billing_core.settings import Settings
from tests.support.api import Api, error_of
from tests.support.webhook_payloads import RECURRENTE_SECRET, STRIPE_SECRET, sign_recurrente, sign_stripe
from webhooks.app import create_app as create_receiver

DEEP = "[" * 100_000 + "]" * 100_000
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("token", [None, "bk_live_junk_token"])
def test_an_api_endpoint_refuses_deep_json_with_a_400_before_authentication(database_url, engine, token):
    api = Api(database_url, engine, payments={})

    response = api.post("/v1/organizations", token=token, data=DEEP, headers=JSON)

    assert response.status_code == 400
    assert error_of(response)["field"] == "body"
    assert f"deeper than {MAX_DEPTH}" in error_of(response)["message"]


@pytest.mark.parametrize("gzipped", [False, True])
def test_the_ingestion_refuses_deep_json_plain_or_gzipped(database_url, engine, gzipped):
    api = Api(database_url, engine, payments={})
    body = gzip.compress(DEEP.encode()) if gzipped else DEEP.encode()
    headers = {**JSON, **({"Content-Encoding": "gzip"} if gzipped else {})}

    response = api.post("/v1/events", data=body, headers=headers)

    assert response.status_code == 400, response.data[:300]
    assert "deeper than" in error_of(response)["message"]


def test_json_at_the_depth_limit_is_still_parsed(database_url, engine):
    api = Api(database_url, engine, payments={})
    body = '{"id": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"

    response = api.post("/v1/organizations", data=body, headers=JSON)

    assert response.status_code == 400  # refused by the schema, not by depth
    assert "deeper than" not in error_of(response)["message"]


@pytest.mark.parametrize("signed", [False, True])
def test_the_webhook_receivers_refuse_deep_json(database_url, engine, signed):
    settings = Settings(
        database_url=database_url,
        stripe_webhook_secret=SecretStr(STRIPE_SECRET),
        recurrente_webhook_secret=SecretStr(RECURRENTE_SECRET),
    )
    client = create_receiver(settings, engine).test_client()
    stripe_headers = {**JSON, **({"Stripe-Signature": sign_stripe(DEEP)} if signed else {})}
    recurrente_headers = {**JSON, **(sign_recurrente(DEEP, "msg_deep") if signed else {})}

    for path, headers in (("/webhooks/stripe", stripe_headers), ("/webhooks/recurrente", recurrente_headers)):
        response = client.post(path, data=DEEP, headers=headers)
        assert response.status_code == 400, (path, response.data[:300])
        assert "deeper than" in response.get_json()["error"]["message"]


def test_brackets_inside_strings_and_escapes_do_not_count():
    assert not too_deep(('["' + "[" * 100 + '"]').encode())
    assert not too_deep(('["\\\\", "\\"[[[[", ' + "[" * 30 + "]" * 30 + "]").encode())
    assert too_deep(("[" * 33 + "]" * 33).encode())
    assert not too_deep(("[" * 32 + "]" * 32).encode())
    assert not too_deep(b"[]" * 10_000)
