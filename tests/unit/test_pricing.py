"""Pricing one message (worked example 1), without a database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.errors import InvalidInput, UnknownModel, UnknownTool
from billing_core.pricing.rules import MessageUsage, ModelPrice, PriceCatalog, ToolPrice, price_message

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

GPT4O = ModelPrice(1, "gpt-4o", LONG_AGO, Decimal(250), Decimal(125), Decimal(1000))
WEB_SEARCH = ToolPrice(10, "web_search", LONG_AGO, Decimal(1))


def catalog(*models: ModelPrice, tools: tuple[ToolPrice, ...] = (WEB_SEARCH,)) -> PriceCatalog:
    return PriceCatalog(models or (GPT4O,), tools)


def flat(model: str, input_per_m: str, output_per_m: str = "0", cached_per_m: str = "0") -> ModelPrice:
    return ModelPrice(7, model, LONG_AGO, Decimal(input_per_m), Decimal(cached_per_m), Decimal(output_per_m))


# Worked example 1


def test_a_gpt4o_message_with_200_cached_of_1200_input_350_output_and_one_web_search_costs_1_625_000_micros():
    usage = MessageUsage(
        "gpt-4o", input_tokens=1200, output_tokens=350, cached_input_tokens=200, tools={"web_search": 1}
    )
    priced = price_message(usage, NOON, catalog())
    # (1000 × 250 + 200 × 125 + 350 × 1000) µcr + 1 credit
    assert priced.cost_micros == 1_625_000
    assert priced.model_price_id == 1
    assert priced.tool_price_ids == {"web_search": 10}


def test_the_breakdown_shows_each_part_and_the_exact_total_in_micro_credits():
    usage = MessageUsage("gpt-4o", 1200, 350, 200, {"web_search": 1})
    breakdown = price_message(usage, NOON, catalog()).breakdown
    assert breakdown == {
        "input": "250000",
        "cached_input": "25000",
        "output": "350000",
        "tool:web_search": "1000000",
        "exact_total": "1625000",
    }


# Rounding


def test_seven_tokens_at_0_15_per_million_cost_1_05_micros_which_rounds_up_to_2():
    priced = price_message(MessageUsage("cheap", 7, 0), NOON, catalog(flat("cheap", "0.15")))
    assert priced.cost_micros == 2


def test_an_exact_whole_amount_is_not_rounded_up():
    priced = price_message(MessageUsage("cheap", 1000, 0), NOON, catalog(flat("cheap", "0.15")))
    assert priced.cost_micros == 150


def test_rounding_happens_once_for_the_whole_message_not_once_per_part():
    # 1.05 µcr of input + 1.05 µcr of output = 2.1 µcr -> 3 (rounding each part would give 4).
    priced = price_message(MessageUsage("cheap", 7, 7), NOON, catalog(flat("cheap", "0.15", "0.15")))
    assert priced.cost_micros == 3


def test_halves_that_add_up_to_a_whole_micro_credit_are_not_rounded_up():
    # 0.5 µcr of input + 0.5 µcr of output = exactly 1 µcr.
    priced = price_message(MessageUsage("cheap", 1, 1), NOON, catalog(flat("cheap", "0.5", "0.5")))
    assert priced.cost_micros == 1


# Cached tokens


def test_cached_tokens_are_billed_at_the_cached_price_only_and_not_again_as_input():
    all_cached = MessageUsage("gpt-4o", input_tokens=1000, output_tokens=0, cached_input_tokens=1000)
    assert price_message(all_cached, NOON, catalog()).cost_micros == 1000 * 125


def test_moving_tokens_from_uncached_to_cached_saves_exactly_the_price_difference():
    none_cached = MessageUsage("gpt-4o", input_tokens=1000, output_tokens=0)
    some_cached = MessageUsage("gpt-4o", input_tokens=1000, output_tokens=0, cached_input_tokens=400)
    difference = (
        price_message(none_cached, NOON, catalog()).cost_micros
        - price_message(some_cached, NOON, catalog()).cost_micros
    )
    assert difference == 400 * (250 - 125)


# Price versions


OLD = ModelPrice(1, "gpt-4o", LONG_AGO, Decimal(250), Decimal(125), Decimal(1000))
NEW = ModelPrice(2, "gpt-4o", NOON, Decimal(500), Decimal(250), Decimal(2000))


def test_a_message_at_11_59_is_priced_with_the_old_version_when_a_new_one_takes_effect_at_noon():
    usage = MessageUsage("gpt-4o", 1000, 0)
    priced = price_message(usage, NOON - timedelta(minutes=1), catalog(OLD, NEW))
    assert (priced.cost_micros, priced.model_price_id) == (250_000, 1)


def test_a_message_at_exactly_the_moment_a_new_version_takes_effect_is_priced_with_the_new_version():
    priced = price_message(MessageUsage("gpt-4o", 1000, 0), NOON, catalog(OLD, NEW))
    assert (priced.cost_micros, priced.model_price_id) == (500_000, 2)


def test_versions_are_chosen_by_time_whatever_order_the_catalog_received_them_in():
    usage = MessageUsage("gpt-4o", 1000, 0)
    shuffled = catalog(NEW, OLD)
    assert price_message(usage, NOON - timedelta(seconds=1), shuffled).model_price_id == 1
    assert price_message(usage, NOON + timedelta(days=30), shuffled).model_price_id == 2


def test_a_tool_is_priced_with_the_tool_version_in_effect_when_the_message_occurred():
    tools = (ToolPrice(10, "web_search", LONG_AGO, Decimal(1)), ToolPrice(11, "web_search", NOON, Decimal(3)))
    usage = MessageUsage("gpt-4o", 0, 0, tools={"web_search": 2})
    before = price_message(usage, NOON - timedelta(minutes=1), catalog(tools=tools))
    after = price_message(usage, NOON, catalog(tools=tools))
    assert (before.cost_micros, before.tool_price_ids) == (2_000_000, {"web_search": 10})
    assert (after.cost_micros, after.tool_price_ids) == (6_000_000, {"web_search": 11})


# Unknown names


def test_a_model_without_any_price_raises_unknown_model_naming_it():
    with pytest.raises(UnknownModel) as raised:
        price_message(MessageUsage("gpt-9", 1, 1), NOON, catalog())
    assert raised.value.model == "gpt-9"


def test_a_message_older_than_the_first_price_version_of_its_model_raises_unknown_model():
    with pytest.raises(UnknownModel) as raised:
        price_message(MessageUsage("gpt-4o", 1, 1), NOON - timedelta(minutes=1), catalog(NEW))
    assert raised.value.model == "gpt-4o"


def test_a_tool_without_any_price_raises_unknown_tool_naming_it():
    with pytest.raises(UnknownTool) as raised:
        price_message(MessageUsage("gpt-4o", 1, 1, tools={"code_interpreter": 1}), NOON, catalog())
    assert raised.value.tool == "code_interpreter"


def test_a_tool_used_zero_times_needs_no_price_and_costs_nothing():
    priced = price_message(MessageUsage("gpt-4o", 0, 1, tools={"code_interpreter": 0}), NOON, catalog())
    assert (priced.cost_micros, priced.tool_price_ids) == (1000, {})


# MessageUsage validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": -5}, "output_tokens"),
        ({"cached_input_tokens": -1}, "cached_input_tokens"),
        ({"input_tokens": True}, "input_tokens"),
        ({"output_tokens": False}, "output_tokens"),
        ({"input_tokens": 10.0}, "input_tokens"),
        ({"output_tokens": "3"}, "output_tokens"),
        ({"cached_input_tokens": Decimal(1)}, "cached_input_tokens"),
        ({"input_tokens": 5, "cached_input_tokens": 6}, "cached_input_tokens"),
        ({"tools": {"web_search": -1}}, "tools.web_search"),
        ({"tools": {"web_search": True}}, "tools.web_search"),
        ({"model": ""}, "model"),
    ],
)
def test_an_invalid_usage_is_refused_with_the_offending_field_named(kwargs, field):
    values = {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 10, "cached_input_tokens": 0}
    values.update(kwargs)
    with pytest.raises(InvalidInput) as raised:
        MessageUsage(**values)
    assert raised.value.field == field


def test_cached_tokens_equal_to_all_input_tokens_are_accepted():
    assert MessageUsage("gpt-4o", 5, 0, 5).cached_input_tokens == 5


# Property: the cost is the exact sum, rounded up once

prices = st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10_000_000)


@given(
    input_tokens=counts,
    cached_share=st.integers(min_value=0, max_value=100),
    output_tokens=counts,
    searches=st.integers(min_value=0, max_value=50),
    input_per_m=prices,
    cached_per_m=prices,
    output_per_m=prices,
    per_call=prices,
)
def test_the_cost_is_the_exact_sum_of_the_parts_rounded_up_to_the_next_micro_credit(
    input_tokens, cached_share, output_tokens, searches, input_per_m, cached_per_m, output_per_m, per_call
):
    cached = input_tokens * cached_share // 100
    model = ModelPrice(3, "m", LONG_AGO, input_per_m, cached_per_m, output_per_m)
    tool = ToolPrice(4, "web_search", LONG_AGO, per_call)
    usage = MessageUsage("m", input_tokens, output_tokens, cached, {"web_search": searches})
    priced = price_message(usage, NOON, PriceCatalog([model], [tool]))

    # Credits per 1M tokens: one token costs price / 1,000,000 credits = price micro-credits.
    exact = (
        (input_tokens - cached) * Fraction(input_per_m)
        + cached * Fraction(cached_per_m)
        + output_tokens * Fraction(output_per_m)
        + searches * Fraction(per_call) * 1_000_000
    )
    assert priced.cost_micros == math.ceil(exact)
    assert 0 <= priced.cost_micros - exact < 1
