"""The usage use case: decode, price and debit a batch of raw events; park what cannot be charged."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from billing_core import rejections
from billing_core.errors import InvalidInput, UnknownModel, UnknownTool
from billing_core.events import parse_usage_event
from billing_core.ledger.usage import BatchResult, PricedEvent, UsageEvent, debit_usage_batch
from billing_core.prices import load_catalog
from billing_core.pricing import PriceCatalog, price_message


class CatalogCache:
    """The price catalog kept in memory, reloaded every `max_age` seconds and on an unknown model."""

    def __init__(self, max_age: float = 30.0) -> None:
        self._max_age = max_age
        self._catalog: PriceCatalog | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, connection: Connection, *, fresh: bool = False) -> PriceCatalog:
        with self._lock:
            stale = time.monotonic() - self._loaded_at > self._max_age
            if self._catalog is None or stale or fresh:
                self._catalog = load_catalog(connection)
                self._loaded_at = time.monotonic()
            return self._catalog


@dataclass
class IngestResult:
    """What happened to a batch of raw events."""

    batch: BatchResult = field(default_factory=BatchResult)
    rejected: list[rejections.Rejection] = field(default_factory=list)

    @property
    def charged(self) -> dict[str, int]:
        return self.batch.charged


def _raw_payload(raw: object) -> dict[str, Any]:
    return dict(raw) if isinstance(raw, Mapping) else {"raw": raw}


def ingest_usage(
    connection: Connection, raw_events: Sequence[object], catalogs: CatalogCache, now: datetime
) -> IngestResult:
    """Charge every valid event once; every other one becomes a rejected event with its reason."""
    result = IngestResult()
    decoded: list[tuple[object, UsageEvent]] = []
    for raw in raw_events:
        try:
            decoded.append((raw, parse_usage_event(raw)))
        except InvalidInput as error:
            result.rejected.append(_reject(raw, rejections.MALFORMED, str(error)))
    catalog = catalogs.get(connection)
    priced: list[PricedEvent] = []
    for raw, event in decoded:
        try:
            priced.append(PricedEvent(event, price_message(event.usage, event.occurred_at, catalog)))
        except (UnknownModel, UnknownTool):
            catalog = catalogs.get(connection, fresh=True)  # a price may have been added just now
            try:
                priced.append(PricedEvent(event, price_message(event.usage, event.occurred_at, catalog)))
            except UnknownModel as error:
                result.rejected.append(_reject(raw, rejections.UNKNOWN_MODEL, str(error), event))
            except UnknownTool as error:
                result.rejected.append(_reject(raw, rejections.UNKNOWN_TOOL, str(error), event))
    rejections.record(connection, result.rejected)
    result.batch = debit_usage_batch(connection, priced, now)
    return result


def _reject(raw: object, reason: str, detail: str, event: UsageEvent | None = None) -> rejections.Rejection:
    payload = _raw_payload(raw)
    event_id = event.event_id if event else payload.get("event_id")
    org = event.organization_id if event else payload.get("organization_id")
    return rejections.Rejection(
        kind="usage",
        reason=reason,
        payload=payload,
        detail=detail,
        event_id=event_id if isinstance(event_id, str) else None,
        organization_id=org if isinstance(org, str) else None,
    )
