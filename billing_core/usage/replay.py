"""Replaying rejected usage events once their cause is fixed (e.g. a price for a new model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from billing_core.pricing.catalog import CatalogCache
from billing_core.usage import rejections
from billing_core.usage.ingest import ingest_usage


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    charged: int
    still_rejected: int


def replay_rejected_usage(
    connection: Connection, now: datetime, *, reason: str | None = None, limit: int = 1000
) -> ReplayResult:
    """Run pending rejected usage events through the usage use case again; charge each at most once.

    Events that are now charged (or found already charged) are marked replayed; the others stay
    pending with their reason."""
    pending = [
        r for r in rejections.list_rejected(connection, reason=reason, limit=limit) if r.kind == "usage"
    ]
    pending = [r for r in pending if r.reason != rejections.CONFLICT]  # a conflict needs a human
    if not pending:
        return ReplayResult(0, 0, 0)
    events_of = {r.id: _events_of(r.payload) for r in pending}
    result = ingest_usage(
        connection, [e for events in events_of.values() for e in events], CatalogCache(), now
    )
    settled = set(result.charged) | set(result.batch.duplicates)
    done = [rid for rid, events in events_of.items() if all(_event_id(e) in settled for e in events)]
    rejections.mark_replayed(connection, done)
    return ReplayResult(len(pending), len(result.charged), len(pending) - len(done))


def _events_of(payload: dict[str, Any]) -> list[object]:
    """A rejected event is its own payload; a parked message (poison, retries exhausted) holds a list."""
    if "actor_name" in payload and "args" in payload:
        args = payload["args"]
        if isinstance(args, list) and args and isinstance(args[0], list):
            return list(args[0])
        return []
    return [payload]


def _event_id(raw: object) -> object:
    return raw.get("event_id") if isinstance(raw, dict) else None
