"""The usage use case: decode, price and debit a batch of raw events; park what cannot be charged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from billing_core.errors import InvalidInput, UnknownModel, UnknownTool
from billing_core.ledger.refund_requests import settle_debited
from billing_core.ledger.usage import BatchResult, PricedEvent, UsageEvent, debit_usage_batch
from billing_core.pricing.catalog import CatalogCache, load_catalog
from billing_core.pricing.rules import PriceCatalog, price_message
from billing_core.usage import rejections
from billing_core.usage.event import parse_usage_event


@dataclass
class PreparedUsage:
    """Events decoded and priced (no database writes yet), and those rejected on the way."""

    priced: list[PricedEvent] = field(default_factory=list)
    rejected: list[rejections.Rejection] = field(default_factory=list)

    @staticmethod
    def merge(parts: Sequence[PreparedUsage]) -> PreparedUsage:
        return PreparedUsage(
            [p for part in parts for p in part.priced], [r for part in parts for r in part.rejected]
        )


@dataclass
class IngestResult:
    """What happened to a batch of raw events."""

    batch: BatchResult = field(default_factory=BatchResult)
    rejected: list[rejections.Rejection] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)

    @property
    def charged(self) -> dict[str, int]:
        return self.batch.charged


def prepare_usage(
    raw_events: Sequence[object], catalogs: CatalogCache, load: Callable[[], PriceCatalog]
) -> PreparedUsage:
    """Decode and price events with the versions in effect at their times. CPU only: workers do
    this outside the shared transaction, so it overlaps with other messages' database work."""
    prepared = PreparedUsage()
    for raw in raw_events:
        try:
            event = parse_usage_event(raw)
        except InvalidInput as error:
            prepared.rejected.append(_reject(raw, rejections.MALFORMED, str(error)))
            continue
        try:
            prepared.priced.append(catalogs.price_with_reload(load, partial(_priced, event)))
        except UnknownModel as error:
            prepared.rejected.append(_reject(raw, rejections.UNKNOWN_MODEL, str(error), event))
        except UnknownTool as error:
            prepared.rejected.append(_reject(raw, rejections.UNKNOWN_TOOL, str(error), event))
    return prepared


def _priced(event: UsageEvent, catalog: PriceCatalog) -> PricedEvent:
    return PricedEvent(event, price_message(event.usage, event.occurred_at, catalog))


def record_usage(connection: Connection, prepared: PreparedUsage, now: datetime) -> IngestResult:
    """Debit the priced events once each and keep every rejection, in the caller's transaction."""
    rejections.record(connection, prepared.rejected)
    batch = debit_usage_batch(connection, prepared.priced, now)
    refunded = settle_debited(connection, batch.charged, now)  # failures that arrived first
    return IngestResult(batch, list(prepared.rejected), refunded)


def ingest_usage(
    connection: Connection, raw_events: Sequence[object], catalogs: CatalogCache, now: datetime
) -> IngestResult:
    """Charge every valid event once; every other one becomes a rejected event with its reason."""
    prepared = prepare_usage(raw_events, catalogs, lambda: load_catalog(connection))
    return record_usage(connection, prepared, now)


def _reject(raw: object, reason: str, detail: str, event: UsageEvent | None = None) -> rejections.Rejection:
    return rejections.Rejection.of_message(
        "usage",
        raw,
        reason,
        detail,
        id_field="event_id",
        event_id=event.event_id if event else None,
        organization_id=event.organization_id if event else None,
    )
