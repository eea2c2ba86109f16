"""Replaying rejected usage events once their cause is fixed (e.g. a price for a new model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from billing_core import rejections
from billing_core.usage_ingest import CatalogCache, ingest_usage


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
    result = ingest_usage(connection, [r.payload for r in pending], CatalogCache(), now)
    settled = set(result.charged) | set(result.batch.duplicates)
    done = [r.id for r in pending if r.event_id in settled]
    rejections.mark_replayed(connection, done)
    return ReplayResult(len(pending), len(result.charged), len(pending) - len(done))
