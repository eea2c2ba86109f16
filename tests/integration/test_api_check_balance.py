"""Check-balance: 200 when the balance covers the estimate, 402 otherwise, exactly at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing_core.pricing.catalog import NewModelPrice, add_model_prices
from tests.support.api import Api, error_of
from tests.support.ledger import committed, create_org, debit, event, grant, setup_prices

# unit-model: 1 credit per output token, input free; web_search 1 credit per call.
FIVE_CREDITS = {
    "estimate": {
        "model": "unit-model",
        "input_tokens": 100,
        "max_output_tokens": 4,
        "tools": {"web_search": 1},
    }
}


@pytest.fixture
def api(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    return Api(database_url, engine)


def check(api: Api, body: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    return api.post("/v1/organizations/acme/balance/check", json=body)


def test_a_balance_exactly_equal_to_the_estimated_cost_is_sufficient(api, engine):
    grant(engine, "acme", "5", "g1")
    response = check(api, FIVE_CREDITS)
    assert response.status_code == 200
    assert response.json == {"sufficient": True, "balance": "5.000000", "estimated_cost": "5.000000"}


def test_one_micro_credit_short_of_the_estimated_cost_is_a_402_with_balance_and_required(api, engine):
    grant(engine, "acme", "4.999999", "g1")
    response = check(api, FIVE_CREDITS)
    assert response.status_code == 402
    error = error_of(response)
    assert (error["type"], error["balance"], error["required"]) == (
        "insufficient_credits",
        "4.999999",
        "5.000000",
    )


def test_without_an_estimate_any_positive_balance_is_sufficient_and_zero_is_not(api, engine):
    empty = check(api)
    assert empty.status_code == 402
    assert (error_of(empty)["balance"], error_of(empty)["required"]) == ("0.000000", "0.000001")
    grant(engine, "acme", "0.000001", "g1")
    assert check(api).json == {"sufficient": True, "balance": "0.000001", "estimated_cost": "0.000000"}
    assert check(api, {}).status_code == 200


def test_an_overdrawn_organization_cannot_afford_even_a_free_message(api, engine):
    grant(engine, "acme", 1, "g1")
    debit(engine, [event("big", "acme", output_tokens=3)])
    response = check(api, {"estimate": {"model": "unit-model"}})
    assert response.status_code == 402
    assert error_of(response)["balance"] == "-2.000000"


def test_an_unknown_model_or_tool_in_the_estimate_is_a_400_naming_the_field(api, engine):
    grant(engine, "acme", 100, "g1")
    response = check(api, {"estimate": {"model": "no-such-model", "max_output_tokens": 1}})
    assert response.status_code == 400
    assert (error_of(response)["type"], error_of(response)["field"]) == ("unknown_model", "estimate.model")
    response = check(api, {"estimate": {"model": "unit-model", "tools": {"teleport": 1}}})
    assert response.status_code == 400 and error_of(response)["field"] == "estimate.tools"


def test_a_model_priced_after_the_first_check_is_found_without_a_restart(api, engine):
    grant(engine, "acme", 100, "g1")
    assert check(api, {"estimate": {"model": "unit-model"}}).status_code == 200  # fills the price cache
    at = datetime(2020, 1, 1, tzinfo=UTC)
    committed(
        engine, lambda c: add_model_prices(c, [NewModelPrice("new-model", Decimal(1), Decimal(2), None, at)])
    )
    response = check(
        api, {"estimate": {"model": "new-model", "input_tokens": 1_000_000, "max_output_tokens": 0}}
    )
    assert response.status_code == 200 and response.json["estimated_cost"] == "1.000000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"estimate": {"model": "unit-model", "max_output_tokens": 1.5}}, "estimate.max_output_tokens"),
        ({"estimate": {"model": "unit-model", "input_tokens": -1}}, "estimate.input_tokens"),
        ({"estimate": {"input_tokens": 1}}, "estimate.model"),
        ({"estimate": {"model": "unit-model"}, "surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_estimate_is_a_400_naming_the_field(api, body, field):
    response = check(api, body)
    assert response.status_code == 400
    assert error_of(response) | {"message": ""} == {"type": "validation_error", "field": field, "message": ""}


def test_a_body_that_is_not_json_is_a_400_in_the_json_error_shape(api):
    response = api.post(
        "/v1/organizations/acme/balance/check", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert error_of(response)["type"] in ("invalid_request", "validation_error")
