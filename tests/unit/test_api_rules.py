"""Pure rules behind the API: cursors, the rate limit, access levels, plan limits, the balance check,
and the usage trend and forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from api.cursor import decode_cursor, encode_cursor
from api.ratelimit import RateLimiter
from billing_core.errors import InvalidInput
from billing_core.ledger.balance_check import BalanceCheck, is_sufficient
from billing_core.plans.plans import Plan, access_allows, agent_limit_allows
from billing_core.queries.usage_report import forecast, trend


def test_a_cursor_round_trips_and_does_not_show_the_id():
    for value in (1, 42, 2**63 - 1):
        assert decode_cursor(encode_cursor(value)) == value
    assert "42" not in encode_cursor(42)


@pytest.mark.parametrize(
    "garbage", ["", "42", "abc", "t1:5", "dDE6", "dDE6MA", "dDE6LTU", "dTE6NQ", "💥", "dDE6" * 30]
)
def test_anything_but_a_cursor_of_this_api_is_refused_naming_the_cursor(garbage):
    with pytest.raises(InvalidInput) as raised:
        decode_cursor(garbage)
    assert raised.value.field == "cursor"


def test_a_token_may_burst_then_waits_for_its_rate_while_other_tokens_are_independent():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0
    now[0] += 0.5
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0


def test_the_rate_limiter_forgets_the_least_recent_tokens_beyond_its_capacity():
    limiter = RateLimiter(rate=1, burst=1, max_keys=2, clock=lambda: 0.0)
    assert limiter.acquire("a") == 0 and limiter.acquire("b") == 0 and limiter.acquire("c") == 0
    assert limiter.acquire("c") > 0  # still remembered
    assert limiter.acquire("a") == 0  # forgotten: a fresh bucket


@pytest.mark.parametrize(
    ("granted", "required", "allowed"),
    [
        ("basic", "basic", True),
        ("basic", "full", False),
        ("full", "basic", True),
        ("full", "enterprise", False),
        ("enterprise", "full", True),
        ("platinum", "basic", False),
    ],
)
def test_access_levels_are_ordered_basic_full_enterprise(granted, required, allowed):
    assert access_allows(granted, required) is allowed


def test_a_plan_allows_agents_up_to_its_maximum():
    plan = Plan(
        "starter", "Starter", 0, 1, 3, "basic", "standard", 1000, "USD", False, None, None, None, None
    )
    assert [agent_limit_allows(plan, n) for n in (0, 2, 3, 4)] == [True, True, False, False]


def test_a_balance_covers_a_message_when_positive_and_at_least_its_cost():
    assert is_sufficient(5, 5) and is_sufficient(1, 0)
    assert not is_sufficient(4, 5) and not is_sufficient(0, 0) and not is_sufficient(-1, 0)
    assert BalanceCheck(0, 0).required == 1 and BalanceCheck(0, 7).required == 7


def test_the_trend_compares_the_last_7_days_with_the_7_before():
    assert trend(150, 100).change_percent == Decimal("50.00")
    assert trend(0, 3).change_percent == Decimal("-100.00")
    assert trend(5, 0).change_percent is None


def test_the_forecast_runs_out_after_balance_over_burn_rate_days():
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    period_end = datetime(2026, 4, 1, tzinfo=UTC)
    f = forecast(balance=100_000_000, last_7_days=70_000_000, now=now, period_end=period_end)
    assert f.burn_rate_per_day == 10_000_000
    assert f.projected_run_out == date(2026, 3, 20)
    assert f.needed_until_period_end == 215_000_000  # 21.5 days at 10 credits a day
    assert f.allowance_lasts_until_period_end is False
    idle = forecast(balance=1, last_7_days=0, now=now, period_end=period_end)
    assert (idle.projected_run_out, idle.allowance_lasts_until_period_end) == (None, True)
    broke = forecast(balance=-5, last_7_days=0, now=now, period_end=period_end)
    assert (broke.projected_run_out, broke.allowance_lasts_until_period_end) == (date(2026, 3, 10), False)
    rich = forecast(balance=10**18, last_7_days=7, now=now, period_end=period_end)
    assert rich.projected_run_out is None and rich.allowance_lasts_until_period_end is True
