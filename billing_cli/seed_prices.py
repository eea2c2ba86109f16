"""Default prices for popular models, converted from the bundled `genai-prices` snapshot (offline)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing_core.pricing.catalog import NewModelPrice

SEED_PROVIDERS = ("openai", "anthropic", "google")
# Seeded versions take effect at a fixed time, so seeding twice adds nothing.
SEED_EFFECTIVE_AT = datetime(2000, 1, 1, tzinfo=UTC)
# US$ per call of each tool; web search matches OpenAI's US$10 per 1,000 calls.
TOOL_USD = {"web_search": Decimal("0.01"), "image_generation": Decimal("0.04")}


def _base_price(value: Any) -> Decimal | None:
    """A flat price, or the first tier of a tiered one."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    base = getattr(value, "base", None)
    return base if isinstance(base, Decimal) else None


def _current_prices(model: Any, today: date) -> Any:
    prices = model.prices
    if not isinstance(prices, list):
        return prices
    chosen = None
    for conditional in prices:  # later entries supersede earlier ones once their start date passes
        start = getattr(conditional.constraint, "start_date", None)
        if conditional.constraint is None or (start is not None and start <= today):
            chosen = conditional.prices
    return chosen


def seed_model_prices(usd_per_credit: Decimal, markup: Decimal, today: date) -> list[NewModelPrice]:
    from genai_prices import data_snapshot

    factor = markup / usd_per_credit
    seeded: dict[str, NewModelPrice] = {}
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id not in SEED_PROVIDERS:
            continue
        for model in provider.models:
            if getattr(model, "deprecated", False):
                continue
            prices = _current_prices(model, today)
            inp = _base_price(getattr(prices, "input_mtok", None))
            out = _base_price(getattr(prices, "output_mtok", None))
            if prices is None or inp is None or out is None:
                continue
            cached = _base_price(getattr(prices, "cache_read_mtok", None))
            seeded.setdefault(
                model.id,
                NewModelPrice(
                    model=model.id,
                    input_per_m=inp * factor,
                    output_per_m=out * factor,
                    cached_input_per_m=None if cached is None else cached * factor,
                    effective_at=SEED_EFFECTIVE_AT,
                    source=f"genai-prices:{provider.id}",
                ),
            )
    return sorted(seeded.values(), key=lambda p: p.model)


def seed_tool_prices(usd_per_credit: Decimal, markup: Decimal) -> dict[str, Decimal]:
    return {tool: usd * markup / usd_per_credit for tool, usd in TOOL_USD.items()}
