"""Builders for refund tests: failure reports and the two paths that settle them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from billing_core.ledger.refund_requests import FailureResult, flag_unmatched, handle_failures
from billing_core.pricing.catalog import CatalogCache
from billing_core.usage.ingest import IngestResult, ingest_usage
from tests.support.ledger import T0, committed


def failure(
    original_event_id: str, org: str = "acme", *, reason: str = "agent crashed", at: datetime = T0
) -> dict:
    return {
        "event_id": f"fail-{original_event_id}",
        "original_event_id": original_event_id,
        "organization_id": org,
        "reason": reason,
        "occurred_at": at.isoformat(),
    }


def report(engine: Engine, reports: Sequence[dict], now: datetime = T0) -> FailureResult:
    return committed(engine, lambda c: handle_failures(c, list(reports), now))  # type: ignore[no-any-return]


def wire_event(event_id: str, org: str = "acme", *, output_tokens: int = 1, at: datetime = T0) -> dict:
    """A message-completed event as JSON; with the test prices it costs `output_tokens` credits."""
    return {
        "event_id": event_id,
        "organization_id": org,
        "agent_id": "agent-1",
        "model": "unit-model",
        "input_tokens": 0,
        "output_tokens": output_tokens,
        "occurred_at": at.isoformat(),
    }


def charge(engine: Engine, events: Sequence[dict], now: datetime = T0) -> IngestResult:
    """Through the same use case the usage worker runs (it settles failures that came first)."""
    return committed(engine, lambda c: ingest_usage(c, list(events), CatalogCache(), now))  # type: ignore[no-any-return]


def flag(engine: Engine, now: datetime, wait: timedelta) -> int:
    return committed(engine, lambda c: flag_unmatched(c, now, wait))  # type: ignore[no-any-return]
