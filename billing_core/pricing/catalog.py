"""The price catalog in the database: versions are only ever added, never changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput, UnknownModel, UnknownTool
from billing_core.pricing.rules import ModelPrice, PriceCatalog, ToolPrice

KNOWN_TOOLS = ("image_generation", "web_search")


@dataclass(frozen=True)
class NewModelPrice:
    model: str
    input_per_m: Decimal
    output_per_m: Decimal
    cached_input_per_m: Decimal | None
    effective_at: datetime
    source: str = "manual"


def _check_price(field: str, value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise InvalidInput(field, "must be a non-negative number")


def add_model_prices(connection: Connection, prices: Sequence[NewModelPrice]) -> int:
    """Add versions; one that already exists for the same model and time is left as it is."""
    for p in prices:
        if not p.model:
            raise InvalidInput("model", "is required")
        for field, value in (("input", p.input_per_m), ("output", p.output_per_m)):
            _check_price(field, value)
        if p.cached_input_per_m is not None:
            _check_price("cached_input", p.cached_input_per_m)
    if not prices:
        return 0
    result = connection.execute(
        text(
            "INSERT INTO model_prices (model, effective_at, input_per_m, cached_input_per_m, "
            "output_per_m, source) SELECT * FROM unnest(CAST(:model AS text[]), "
            "CAST(:at AS timestamptz[]), CAST(:inp AS numeric[]), CAST(:cached AS numeric[]), "
            "CAST(:out AS numeric[]), CAST(:source AS text[])) "
            "ON CONFLICT (model, effective_at) DO NOTHING RETURNING id"
        ),
        {
            "model": [p.model for p in prices],
            "at": [p.effective_at for p in prices],
            "inp": [p.input_per_m for p in prices],
            # Without a cache discount, cached input costs what uncached input costs.
            "cached": [
                p.cached_input_per_m if p.cached_input_per_m is not None else p.input_per_m for p in prices
            ],
            "out": [p.output_per_m for p in prices],
            "source": [p.source for p in prices],
        },
    )
    return len(result.all())


def add_tool_price(connection: Connection, tool: str, per_call: Decimal, effective_at: datetime) -> bool:
    if tool not in KNOWN_TOOLS:
        raise InvalidInput("tool", f"must be one of {', '.join(KNOWN_TOOLS)}")
    _check_price("per_call", per_call)
    row = connection.execute(
        text(
            "INSERT INTO tool_prices (tool, effective_at, per_call) VALUES (:tool, :at, :price) "
            "ON CONFLICT (tool, effective_at) DO NOTHING RETURNING id"
        ),
        {"tool": tool, "at": effective_at, "price": per_call},
    ).first()
    return row is not None


def load_catalog(connection: Connection) -> PriceCatalog:
    models = [
        ModelPrice(*row)
        for row in connection.execute(
            text(
                "SELECT id, model, effective_at, input_per_m, cached_input_per_m, output_per_m "
                "FROM model_prices"
            )
        )
    ]
    tools = [
        ToolPrice(*row)
        for row in connection.execute(text("SELECT id, tool, effective_at, per_call FROM tool_prices"))
    ]
    return PriceCatalog(models, tools)


def list_model_prices(connection: Connection) -> list[tuple[ModelPrice, str]]:
    rows = connection.execute(
        text(
            "SELECT id, model, effective_at, input_per_m, cached_input_per_m, output_per_m, source "
            "FROM model_prices ORDER BY model, effective_at"
        )
    )
    return [(ModelPrice(*r[:6]), r[6]) for r in rows]


def list_tool_prices(connection: Connection) -> list[ToolPrice]:
    rows = connection.execute(
        text("SELECT id, tool, effective_at, per_call FROM tool_prices ORDER BY tool, effective_at")
    )
    return [ToolPrice(*r) for r in rows]


T = TypeVar("T")


class CatalogCache:
    """The price catalog kept in memory: reloaded when older than `max_age` seconds, and once more
    when a price is missing (`price_with_reload`), since a price may have been added just now."""

    def __init__(self, max_age: float = 30.0) -> None:
        self._max_age = max_age
        self._catalog: PriceCatalog | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, load: Callable[[], PriceCatalog], *, fresh: bool = False) -> PriceCatalog:
        with self._lock:
            stale = time.monotonic() - self._loaded_at > self._max_age
            if self._catalog is None or stale or fresh:
                self._catalog = load()
                self._loaded_at = time.monotonic()
            return self._catalog

    def price_with_reload(self, load: Callable[[], PriceCatalog], price: Callable[[PriceCatalog], T]) -> T:
        """`price(catalog)`; on an unknown model or tool, again with a freshly loaded catalog (the
        second UnknownModel/UnknownTool propagates)."""
        try:
            return price(self.get(load))
        except (UnknownModel, UnknownTool):
            return price(self.get(load, fresh=True))
