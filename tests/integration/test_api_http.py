"""The HTTP surface: JSON errors for everything (404, 405, 413, 429, 500), health and readiness,
the OpenAPI document and its docs page."""

from __future__ import annotations

import re
import socket

from sqlalchemy import create_engine

from api.errors import api_error
from tests.support.api import Api, error_of
from tests.support.ledger import create_org
from tests.support.servers import BROKER_URL


def test_unknown_paths_and_methods_answer_in_the_json_error_shape_never_html(database_url, engine):
    api = Api(database_url, engine)
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found"
    wrong_method = api.call("PUT", "/v1/plans")
    assert wrong_method.status_code == 405 and error_of(wrong_method)["type"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_a_body_over_one_megabyte_is_a_413_in_the_json_error_shape(database_url, engine):
    create_org(engine, "acme")
    api = Api(database_url, engine)
    response = api.post(
        "/v1/organizations/acme/balance/check",
        data=b'{"estimate": "' + b"x" * (1024 * 1024) + b'"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert error_of(response)["type"] == "payload_too_large"


def test_an_unexpected_exception_is_a_500_in_the_json_error_shape_without_details(database_url, engine):
    api = Api(database_url, engine)

    def broken() -> None:
        raise RuntimeError("secret detail")

    def payment() -> None:
        raise api_error(402, "insufficient_credits", "no")

    api.app.add_url_rule("/broken", view_func=broken)
    api.app.add_url_rule("/payment", view_func=payment)
    response = api.get("/broken")
    assert response.status_code == 500
    assert error_of(response)["type"] == "internal_error"
    assert b"secret detail" not in response.data
    assert api.get("/payment").status_code == 402


def test_a_token_over_its_rate_gets_429_with_retry_after_and_other_tokens_are_unaffected(
    database_url, engine
):
    create_org(engine, "acme")
    api = Api(database_url, engine, api_rate_limit_per_second=0.01, api_rate_limit_burst=3)
    statuses = [api.get("/v1/organizations/acme/balance").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/v1/organizations/acme/balance")
    assert error_of(limited)["type"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert api.get("/v1/organizations/acme/balance", token="another-token").status_code == 401


def test_healthz_answers_without_the_database_and_readyz_checks_database_and_broker(database_url, engine):
    api = Api(database_url, engine, broker_url=BROKER_URL)
    assert api.get("/healthz", token=None).json == {"status": "ok"}
    assert api.get("/readyz", token=None).json == {"status": "ready", "database": "ok", "broker": "ok"}

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = Api(database_url, engine, broker_url=f"amqp://guest:hunter2@127.0.0.1:{port}/%2F")
    response = down.get("/readyz", token=None)
    assert response.status_code == 503
    error = error_of(response)
    assert error["type"] == "not_ready" and "broker: unreachable" in error["message"]
    assert "hunter2" not in response.get_data(as_text=True)
    no_broker = Api(database_url, engine, broker_url=None)
    assert no_broker.get("/readyz", token=None).json["broker"] == "not configured"


def test_readyz_is_503_when_the_database_is_unreachable(database_url):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    dead = create_engine(
        f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", connect_args={"connect_timeout": 2}
    )
    api = Api(database_url, dead, broker_url=None)
    assert api.get("/healthz", token=None).status_code == 200
    response = api.get("/readyz", token=None)
    assert response.status_code == 503 and "database: unreachable" in error_of(response)["message"]
    dead.dispose()


def test_the_openapi_document_describes_every_endpoint_with_bearer_auth_and_the_error_shape(
    database_url, engine
):
    api = Api(database_url, engine)
    spec = api.get("/openapi.json", token=None).json
    assert spec["openapi"].startswith("3.1")
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert {
        ("GET", "/v1/organizations/{org}/balance"),
        ("POST", "/v1/organizations/{org}/balance/check"),
        ("GET", "/v1/organizations/{org}/transactions"),
        ("GET", "/v1/organizations/{org}/usage"),
        ("GET", "/v1/organizations/{org}/metrics"),
        ("POST", "/v1/organizations"),
        ("POST", "/v1/organizations/{org}/agents"),
        ("GET", "/v1/plans"),
        ("POST", "/v1/organizations/{org}/credits"),
        ("POST", "/v1/organizations/{org}/api-keys"),
        ("DELETE", "/v1/organizations/{org}/api-keys/{key_id}"),
        ("GET", "/v1/organizations/{org}/entitlements"),
        ("GET", "/v1/events/rejected"),
        ("POST", "/v1/events/rejected/replay"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    } <= operations
    check = spec["paths"]["/v1/organizations/{org}/balance/check"]["post"]
    assert check["security"] == [{"bearer": []}]
    assert check["responses"]["402"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert not [path for path in spec["paths"] if not path.startswith(("/v1/", "/healthz", "/readyz"))]
    docs = api.get("/docs", token=None)
    assert docs.status_code == 200 and b"openapi.json" in docs.data


def test_the_docs_page_loads_swagger_ui_from_the_app_itself_not_a_cdn(database_url, engine):
    api = Api(database_url, engine)
    page = api.get("/docs", token=None).get_data(as_text=True)

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    assert not [a for a in assets if "//" in a], assets  # nothing from another host
    for asset in assets:
        answer = api.get(asset, token=None)
        try:
            assert answer.status_code == 200, asset
            assert len(answer.data) > 500, asset
        finally:
            answer.close()  # a file response holds the file open until closed
    assert api.get("/docs/assets/../../app.py", token=None).status_code == 404


def test_a_nul_byte_in_a_query_parameter_is_a_400_naming_it_not_a_server_error(database_url, engine):
    api = Api(database_url, engine)
    response = api.get("/v1/events/rejected?reason=bad%00reason")
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "reason"


def test_a_nul_character_in_a_json_string_is_a_400_not_a_server_error(database_url, engine):
    api = Api(database_url, engine)
    api.create_org("acme")
    response = api.post("/v1/organizations/acme/api-keys", json={"name": "bad\u0000name"})
    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "validation_error"
