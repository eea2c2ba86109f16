"""Pricing one message: a pure function over a versioned price catalog.

Prices are exact decimals in credits per 1M tokens (or per tool call). Since 1 credit is 1,000,000
micro-credits, "credits per 1M tokens" is numerically "micro-credits per token", so a message's
exact cost in micro-credits is a plain sum of products; it is rounded up once, per message.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from billing_core.errors import InvalidInput, UnknownModel, UnknownTool
from billing_core.money import EXACT, MICROS_PER_CREDIT, ceil_micros


@dataclass(frozen=True)
class ModelPrice:
    """One version of a model's prices, in credits per 1M tokens."""

    id: int
    model: str
    effective_at: datetime
    input_per_m: Decimal
    cached_input_per_m: Decimal
    output_per_m: Decimal


@dataclass(frozen=True)
class ToolPrice:
    """One version of a tool's price, in credits per call (or per image generated)."""

    id: int
    tool: str
    effective_at: datetime
    per_call: Decimal


@dataclass(frozen=True)
class MessageUsage:
    """What one message consumed. `input_tokens` includes the cached ones."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    tools: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
            _check_count(name, getattr(self, name))
        if self.cached_input_tokens > self.input_tokens:
            raise InvalidInput("cached_input_tokens", "cannot exceed input_tokens (which includes them)")
        if not self.model:
            raise InvalidInput("model", "is required")
        for tool, count in self.tools.items():
            _check_count(f"tools.{tool}", count)


@dataclass(frozen=True)
class PricedMessage:
    """The cost of one message and how it was computed."""

    cost_micros: int
    model_price_id: int
    tool_price_ids: dict[str, int]
    breakdown: dict[str, str]


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(name, f"must be a non-negative integer, got {value!r}")


class PriceCatalog:
    """Every price version, answering "which version was in effect at time T"."""

    def __init__(self, models: Iterable[ModelPrice], tools: Iterable[ToolPrice]) -> None:
        self._models: dict[str, list[ModelPrice]] = {}
        self._tools: dict[str, list[ToolPrice]] = {}
        for m in models:
            self._models.setdefault(m.model, []).append(m)
        for t in tools:
            self._tools.setdefault(t.tool, []).append(t)
        for model_versions in self._models.values():
            model_versions.sort(key=lambda v: v.effective_at)
        for tool_versions in self._tools.values():
            tool_versions.sort(key=lambda v: v.effective_at)
        # The versions' start times, searched for every message: built once.
        self._model_starts = {m: [v.effective_at for v in vs] for m, vs in self._models.items()}
        self._tool_starts = {t: [v.effective_at for v in vs] for t, vs in self._tools.items()}

    def model_price_at(self, model: str, at: datetime) -> ModelPrice:
        index = bisect.bisect_right(self._model_starts.get(model, ()), at)
        if not index:
            raise UnknownModel(model)
        return self._models[model][index - 1]

    def tool_price_at(self, tool: str, at: datetime) -> ToolPrice:
        index = bisect.bisect_right(self._tool_starts.get(tool, ()), at)
        if not index:
            raise UnknownTool(tool)
        return self._tools[tool][index - 1]

    def models(self) -> list[str]:
        return sorted(self._models)


def price_message(usage: MessageUsage, occurred_at: datetime, catalog: PriceCatalog) -> PricedMessage:
    """Price one message with the versions in effect at `occurred_at`; round up once."""
    with localcontext(EXACT):
        return _price(usage, occurred_at, catalog)


def _price(usage: MessageUsage, occurred_at: datetime, catalog: PriceCatalog) -> PricedMessage:
    price = catalog.model_price_at(usage.model, occurred_at)
    uncached = usage.input_tokens - usage.cached_input_tokens
    parts: dict[str, Decimal] = {
        "input": uncached * price.input_per_m,
        "cached_input": usage.cached_input_tokens * price.cached_input_per_m,
        "output": usage.output_tokens * price.output_per_m,
    }
    tool_ids: dict[str, int] = {}
    for tool, count in sorted(usage.tools.items()):
        if count == 0:
            continue
        tool_price = catalog.tool_price_at(tool, occurred_at)
        tool_ids[tool] = tool_price.id
        parts[f"tool:{tool}"] = count * tool_price.per_call * MICROS_PER_CREDIT
    exact = sum(parts.values(), Decimal(0))
    breakdown = {name: _plain(value) for name, value in parts.items()}
    breakdown["exact_total"] = _plain(exact)
    return PricedMessage(
        cost_micros=ceil_micros(exact),
        model_price_id=price.id,
        tool_price_ids=tool_ids,
        breakdown=breakdown,
    )


def _plain(value: Decimal) -> str:
    """An exact decimal as text, e.g. 250000, 1.05 (products of plain decimals have no exponent)."""
    return str(value)
